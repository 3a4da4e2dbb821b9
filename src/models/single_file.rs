//! Single-file checkpoints: one `.safetensors` in the original LDM
//! ("CompVis") key layout, as Civitai and the A1111 world share them.
//!
//! Such a file holds every network under one prefix each:
//!
//! | network | SD 1.x | SD 2.x | SDXL |
//! |---|---|---|---|
//! | U-Net | `model.diffusion_model.` | same | same |
//! | VAE | `first_stage_model.` | same | same |
//! | text encoder | `cond_stage_model.transformer.` (HF CLIP) | `cond_stage_model.model.` (OpenCLIP) | `conditioner.embedders.0.transformer.` (HF CLIP) + `conditioner.embedders.1.model.` (OpenCLIP) |
//!
//! There is no config: the family comes from which prefixes exist, the sizes
//! (channels, layers, depth, context width) from the tensor shapes, and what
//! shapes cannot tell (head counts, native size, prediction type) from the
//! family's published defaults. Every tensor name is then translated to the
//! diffusers name our modules ask for (the inverse of diffusers'
//! `convert_from_ckpt.py`); OpenCLIP's fused `in_proj` is served as three
//! row slices, and its `text_projection` (used as `x @ P`) transposed.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use candle_core::Tensor;
use serde_json::json;

use crate::diffusion::schedulers::{PredictionType, SchedulerConfig};
use crate::error::{Error, Result};
use crate::models::clip::ClipTextConfig;
use crate::models::stable_diffusion::ModelFamily;
use crate::models::tokenizer::Pad;
use crate::models::unet::{UNet2DConditionModel, UNetConfig};
use crate::models::vae::VaeConfig;
use crate::models::weights::{RenamedTensors, SafeTensorsFile, Stored, WeightSource};

const UNET: &str = "model.diffusion_model.";
const VAE: &str = "first_stage_model.";
const SD1_CLIP: &str = "cond_stage_model.transformer.";
const SD2_CLIP: &str = "cond_stage_model.model.";
const XL_CLIP_L: &str = "conditioner.embedders.0.transformer.";
const XL_CLIP_G: &str = "conditioner.embedders.1.model.";

/// One text encoder of a checkpoint, with the tokenizer convention it needs.
pub struct EncoderPart {
    /// Sizes read from the shapes, the rest from the family.
    pub config: ClipTextConfig,
    /// Which token pads a chunk (the checkpoint has no tokenizer files).
    pub pad: Pad,
    /// SDXL's second encoder also outputs the pooled, projected embedding.
    pub with_projection: bool,
    /// Its tensors under diffusers names.
    pub weights: WeightSource,
}

/// Everything needed to build the pipeline from one checkpoint file.
pub struct CheckpointParts {
    /// Detected from the keys.
    pub family: ModelFamily,
    /// The denoiser's config and tensors.
    pub unet: (UNetConfig, WeightSource),
    /// The autoencoder's config and tensors.
    pub vae: (VaeConfig, WeightSource),
    /// One encoder (SD 1/2) or two (SDXL).
    pub text_encoders: Vec<EncoderPart>,
    /// The family's noise schedule.
    pub scheduler: SchedulerConfig,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadWeights {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Which family a checkpoint's keys say it is, or why it is not one we load.
pub fn detect_family<'a>(
    path: &Path,
    mut keys: impl Iterator<Item = &'a str>,
) -> Result<ModelFamily> {
    let (mut unet, mut sd1, mut sd2, mut xl_l, mut xl_g, mut lora) =
        (false, false, false, false, false, false);
    for k in &mut keys {
        unet |= k.starts_with(UNET);
        sd1 |= k.starts_with(SD1_CLIP);
        sd2 |= k.starts_with(SD2_CLIP);
        xl_l |= k.starts_with(XL_CLIP_L);
        xl_g |= k.starts_with(XL_CLIP_G);
        lora |= k.starts_with("lora_") || k.contains(".lora_");
    }
    if !unet {
        let what = if lora {
            "this is a LoRA, not a full model; LoRAs are not supported yet"
        } else {
            "it has no model.diffusion_model.* tensors, so it is not a full Stable Diffusion checkpoint (a VAE, LoRA or embedding on its own cannot be used as a model)"
        };
        return Err(bad(path, what));
    }
    match (sd1, sd2, xl_l, xl_g) {
        (_, _, true, true) => Ok(ModelFamily::Sdxl),
        (_, _, false, true) => Err(bad(
            path,
            "this looks like the SDXL refiner (only the OpenCLIP-G encoder); load an SDXL base model instead",
        )),
        (_, true, _, _) => Ok(ModelFamily::Sd2),
        (true, _, _, _) => Ok(ModelFamily::Sd1),
        _ => Err(bad(
            path,
            "it has no text encoder (cond_stage_model.* or conditioner.embedders.*); only complete checkpoints can be loaded",
        )),
    }
}

/// Open a checkpoint, detect its family and map its tensors.
pub fn open(path: &Path) -> Result<CheckpointParts> {
    let file = SafeTensorsFile::open(path)?;
    let family = detect_family(path, file.tensors().keys().map(String::as_str))?;
    let shapes = Shapes { file: &file, path };

    let mut text_encoders = Vec::new();
    match family {
        ModelFamily::Sd1 => {
            text_encoders.push(hf_clip(&shapes, &file, SD1_CLIP, Pad::EndOfText)?);
        }
        ModelFamily::Sd2 => {
            // SD 2.x conditions on the penultimate layer: diffusers drops the
            // last resblock from the converted encoder, so we do too.
            text_encoders.push(open_clip(&shapes, &file, SD2_CLIP, true)?);
        }
        ModelFamily::Sdxl => {
            text_encoders.push(hf_clip(&shapes, &file, XL_CLIP_L, Pad::EndOfText)?);
            text_encoders.push(open_clip(&shapes, &file, XL_CLIP_G, false)?);
        }
    }
    let pooled_dim = text_encoders
        .iter()
        .find(|e| e.with_projection)
        .map(|e| e.config.projection_dim);
    let context_dim: usize = text_encoders.iter().map(|e| e.config.hidden_size).sum();
    let unet = unet_part(&shapes, &file, family, context_dim, pooled_dim)?;
    let vae = vae_part(&shapes, &file, family)?;
    // SD 2.x comes as the 768-v model (v-prediction) and the 512 "base"
    // (noise prediction); nothing in the file says which, so the loader runs
    // [`predicts_v`] on the U-Net and corrects this default.
    let scheduler = SchedulerConfig {
        prediction_type: if family == ModelFamily::Sd2 {
            PredictionType::VPrediction
        } else {
            PredictionType::Epsilon
        },
        ..SchedulerConfig::default()
    };
    Ok(CheckpointParts {
        family,
        unet,
        vae,
        text_encoders,
        scheduler,
    })
}

/// Shape lookups with errors that name the file.
struct Shapes<'a> {
    file: &'a SafeTensorsFile,
    path: &'a Path,
}

impl Shapes<'_> {
    fn of(&self, key: &str) -> Result<&[usize]> {
        self.file
            .tensors()
            .get(key)
            .map(|t| t.shape.as_slice())
            .ok_or_else(|| bad(self.path, format!("the checkpoint has no tensor {key}")))
    }

    fn dim(&self, key: &str, axis: usize) -> Result<usize> {
        let shape = self.of(key)?;
        shape
            .get(axis)
            .copied()
            .ok_or_else(|| bad(self.path, format!("tensor {key} has shape {shape:?}")))
    }

    /// The distinct numbers `n` in keys `prefix{n}.…`.
    fn indices(&self, prefix: &str) -> BTreeSet<usize> {
        self.file
            .tensors()
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect()
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.file.tensors().keys().any(|k| k.starts_with(prefix))
    }

    fn config<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        value: serde_json::Value,
    ) -> Result<T> {
        serde_json::from_value(value)
            .map_err(|e| bad(self.path, format!("cannot derive the {what} config: {e}")))
    }
}

/// Serve the tensors under `prefix`, renamed by `rename` (None = unused).
fn renamed(
    file: &SafeTensorsFile,
    prefix: &str,
    mut rename: impl FnMut(&str) -> Vec<(String, Stored)>,
) -> WeightSource {
    let mut names = HashMap::new();
    for key in file.tensors().keys() {
        if let Some(rest) = key.strip_prefix(prefix) {
            for (name, stored) in rename(rest) {
                names.insert(name, stored);
            }
        }
    }
    WeightSource::Renamed(Arc::new(RenamedTensors::new(
        file.path().to_path_buf(),
        names,
    )))
}

fn whole(prefix: &str, rest: &str, name: String) -> Vec<(String, Stored)> {
    vec![(name, Stored::Whole(format!("{prefix}{rest}")))]
}

/// Whether an SD 2.x U-Net predicts v rather than noise, by the test
/// AUTOMATIC1111 uses: on a flat grey latent at the last timestep with a flat
/// context, a v-model's output lies far below its input (mean difference
/// < -1), a noise model's does not.
pub fn predicts_v(
    unet: &UNet2DConditionModel,
    dtype: candle_core::DType,
    device: &candle_core::Device,
) -> Result<bool> {
    let width = unet.config().cross_attention_dim.expand(1)[0];
    let x = (Tensor::ones((1, unet.config().in_channels, 8, 8), dtype, device)? * 0.5)?;
    let context = (Tensor::ones((1, 2, width), dtype, device)? * 0.5)?;
    let out = unet.forward(&x, 999.0, &context, None)?;
    let mean = (out - &x)?
        .to_dtype(candle_core::DType::F32)?
        .mean_all()?
        .to_scalar::<f32>()?;
    Ok(mean < -1.0)
}

// ---------------------------------------------------------------- text encoders

/// CLIP heads are 64 wide in every Stable Diffusion text encoder.
fn clip_heads(shapes: &Shapes, hidden: usize) -> Result<usize> {
    if hidden == 0 || hidden % 64 != 0 {
        return Err(bad(
            shapes.path,
            format!("text encoder width {hidden} is not a multiple of 64"),
        ));
    }
    Ok(hidden / 64)
}

/// SD 1.x / SDXL's CLIP-L: already in transformers' layout.
fn hf_clip(shapes: &Shapes, file: &SafeTensorsFile, prefix: &str, pad: Pad) -> Result<EncoderPart> {
    // Some SD 1.x files omit the `text_model.` segment.
    let inner = if shapes.has_prefix(&format!("{prefix}text_model.")) {
        format!("{prefix}text_model.")
    } else {
        prefix.to_string()
    };
    let (vocab, hidden) = {
        let s = shapes.of(&format!("{inner}embeddings.token_embedding.weight"))?;
        (s[0], s.get(1).copied().unwrap_or(0))
    };
    let layers = shapes.indices(&format!("{inner}encoder.layers.")).len();
    let config = shapes.config(
        "text encoder",
        json!({
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": shapes.dim(&format!("{inner}encoder.layers.0.mlp.fc1.weight"), 0)?,
            "num_hidden_layers": layers,
            "num_attention_heads": clip_heads(shapes, hidden)?,
            "max_position_embeddings": shapes.dim(&format!("{inner}embeddings.position_embedding.weight"), 0)?,
            "hidden_act": "quick_gelu",
        }),
    )?;
    let weights = renamed(file, &inner, |rest| {
        if rest.ends_with("position_ids") {
            return vec![];
        }
        whole(&inner, rest, format!("text_model.{rest}"))
    });
    Ok(EncoderPart {
        config,
        pad,
        with_projection: false,
        weights,
    })
}

/// SD 2.x's OpenCLIP-H and SDXL's OpenCLIP-bigG, in OpenCLIP's own layout.
fn open_clip(
    shapes: &Shapes,
    file: &SafeTensorsFile,
    prefix: &str,
    drop_last_layer: bool,
) -> Result<EncoderPart> {
    let (vocab, hidden) = {
        let s = shapes.of(&format!("{prefix}token_embedding.weight"))?;
        (s[0], s.get(1).copied().unwrap_or(0))
    };
    let blocks = shapes
        .indices(&format!("{prefix}transformer.resblocks."))
        .len();
    let layers = if drop_last_layer {
        blocks.saturating_sub(1)
    } else {
        blocks
    };
    let with_projection = !drop_last_layer;
    let projection_dim = if with_projection {
        match shapes.of(&format!("{prefix}text_projection")) {
            Ok(s) => s.get(1).copied().unwrap_or(0),
            Err(_) => shapes.dim(&format!("{prefix}text_projection.weight"), 0)?,
        }
    } else {
        hidden
    };
    let config = shapes.config(
        "text encoder",
        json!({
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": shapes.dim(&format!("{prefix}transformer.resblocks.0.mlp.c_fc.weight"), 0)?,
            "num_hidden_layers": layers,
            "num_attention_heads": clip_heads(shapes, hidden)?,
            "max_position_embeddings": shapes.dim(&format!("{prefix}positional_embedding"), 0)?,
            "hidden_act": "gelu",
            "projection_dim": projection_dim,
        }),
    )?;
    let weights = renamed(file, prefix, |rest| open_clip_names(prefix, rest, layers));
    Ok(EncoderPart {
        config,
        pad: Pad::Exclamation,
        with_projection,
        weights,
    })
}

/// OpenCLIP name → transformers name(s).
fn open_clip_names(prefix: &str, rest: &str, layers: usize) -> Vec<(String, Stored)> {
    let key = format!("{prefix}{rest}");
    let tm = "text_model";
    match rest {
        "token_embedding.weight" => {
            return vec![(
                format!("{tm}.embeddings.token_embedding.weight"),
                Stored::Whole(key),
            )]
        }
        "positional_embedding" => {
            return vec![(
                format!("{tm}.embeddings.position_embedding.weight"),
                Stored::Whole(key),
            )]
        }
        "text_projection" => {
            return vec![("text_projection.weight".into(), Stored::Transposed(key))]
        }
        "text_projection.weight" => {
            return vec![("text_projection.weight".into(), Stored::Whole(key))]
        }
        _ => {}
    }
    if let Some(param) = rest.strip_prefix("ln_final.") {
        return vec![(format!("{tm}.final_layer_norm.{param}"), Stored::Whole(key))];
    }
    let Some(block) = rest.strip_prefix("transformer.resblocks.") else {
        return vec![];
    };
    let Some((i, inner)) = block.split_once('.') else {
        return vec![];
    };
    let Ok(i) = i.parse::<usize>() else {
        return vec![];
    };
    if i >= layers {
        return vec![];
    }
    let layer = format!("{tm}.encoder.layers.{i}");
    if let Some(param) = inner.strip_prefix("attn.in_proj_") {
        // `in_proj_weight` / `in_proj_bias`: q, k and v stacked along rows.
        return ["q_proj", "k_proj", "v_proj"]
            .iter()
            .enumerate()
            .map(|(part, proj)| {
                (
                    format!("{layer}.self_attn.{proj}.{param}"),
                    Stored::Rows {
                        name: key.clone(),
                        part,
                        parts: 3,
                    },
                )
            })
            .collect();
    }
    let renames = [
        ("ln_1.", "layer_norm1."),
        ("ln_2.", "layer_norm2."),
        ("mlp.c_fc.", "mlp.fc1."),
        ("mlp.c_proj.", "mlp.fc2."),
        ("attn.out_proj.", "self_attn.out_proj."),
    ];
    renames
        .iter()
        .find_map(|(from, to)| {
            let param = inner.strip_prefix(from)?;
            Some(vec![(
                format!("{layer}.{to}{param}"),
                Stored::Whole(key.clone()),
            )])
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- U-Net

fn unet_part(
    shapes: &Shapes,
    file: &SafeTensorsFile,
    family: ModelFamily,
    context_dim: usize,
    pooled_dim: Option<usize>,
) -> Result<(UNetConfig, WeightSource)> {
    let p = |rest: &str| format!("{UNET}{rest}");
    // Downsamplers sit at input_blocks 3, 6, 9 for 2 layers per block: the
    // first one's index is layers + 1, and there is one fewer than levels.
    let downsamplers: Vec<usize> = shapes
        .indices(&p("input_blocks."))
        .into_iter()
        .filter(|i| {
            shapes
                .file
                .tensors()
                .contains_key(&p(&format!("input_blocks.{i}.0.op.weight")))
        })
        .collect();
    let Some(&first_ds) = downsamplers.first() else {
        return Err(bad(shapes.path, "the U-Net has no downsampling blocks"));
    };
    let layers = first_ds - 1;
    if layers == 0 {
        return Err(bad(
            shapes.path,
            "the U-Net's block layout is not one we know",
        ));
    }
    let levels = downsamplers.len() + 1;
    let mut channels = Vec::with_capacity(levels);
    let mut attention = Vec::with_capacity(levels);
    let mut depth = Vec::with_capacity(levels);
    let mut linear_projection = false;
    let mut cross_dim = context_dim;
    for level in 0..levels {
        let first = 1 + level * (layers + 1);
        channels.push(shapes.dim(
            &p(&format!("input_blocks.{first}.0.out_layers.3.weight")),
            0,
        )?);
        let attn = p(&format!("input_blocks.{first}.1."));
        let has_attn = shapes.has_prefix(&attn);
        attention.push(has_attn);
        if has_attn {
            depth.push(
                shapes
                    .indices(&format!("{attn}transformer_blocks."))
                    .len()
                    .max(1),
            );
            linear_projection = shapes.of(&format!("{attn}proj_in.weight"))?.len() == 2;
            cross_dim = shapes.dim(&format!("{attn}transformer_blocks.0.attn2.to_k.weight"), 1)?;
        } else {
            depth.push(1);
        }
    }
    if cross_dim != context_dim {
        return Err(bad(
            shapes.path,
            format!("the U-Net reads {cross_dim}-wide text embeddings but the text encoders give {context_dim}"),
        ));
    }
    let heads: Vec<usize> = match family {
        // SD 1.x: 8 heads everywhere; SD 2.x / SDXL: 64-wide heads.
        ModelFamily::Sd1 => vec![8; levels],
        ModelFamily::Sd2 | ModelFamily::Sdxl => channels.iter().map(|c| (c / 64).max(1)).collect(),
    };
    let down: Vec<&str> = attention
        .iter()
        .map(|a| {
            if *a {
                "CrossAttnDownBlock2D"
            } else {
                "DownBlock2D"
            }
        })
        .collect();
    let up: Vec<&str> = attention
        .iter()
        .rev()
        .map(|a| {
            if *a {
                "CrossAttnUpBlock2D"
            } else {
                "UpBlock2D"
            }
        })
        .collect();
    let mut config = json!({
        "in_channels": shapes.dim(&p("input_blocks.0.0.weight"), 1)?,
        "out_channels": shapes.dim(&p("out.2.weight"), 0)?,
        "sample_size": match family { ModelFamily::Sd1 => 64, ModelFamily::Sd2 => 96, ModelFamily::Sdxl => 128 },
        "block_out_channels": channels,
        "layers_per_block": layers,
        "down_block_types": down,
        "up_block_types": up,
        "cross_attention_dim": cross_dim,
        "transformer_layers_per_block": depth,
        "attention_head_dim": heads,
        "use_linear_projection": linear_projection,
    });
    if family == ModelFamily::Sdxl {
        // label_emb takes [pooled text | 6 sinusoidal size/crop embeddings].
        let input = shapes.dim(&p("label_emb.0.0.weight"), 1)?;
        let pooled = pooled_dim.unwrap_or(0);
        if input <= pooled || (input - pooled) % 6 != 0 {
            return Err(bad(
                shapes.path,
                format!("label_emb input {input} does not fit a {pooled}-wide pooled embedding"),
            ));
        }
        config["addition_embed_type"] = json!("text_time");
        config["addition_time_embed_dim"] = json!((input - pooled) / 6);
        config["projection_class_embeddings_input_dim"] = json!(input);
    }
    let config: UNetConfig = shapes.config("U-Net", config)?;
    let weights = renamed(file, UNET, |rest| {
        unet_name(rest, layers)
            .map(|name| vec![(name, Stored::Whole(format!("{UNET}{rest}")))])
            .unwrap_or_default()
    });
    Ok((config, weights))
}

/// LDM resnet names → diffusers.
fn resnet_name(rest: &str) -> Option<String> {
    const RENAMES: [(&str, &str); 6] = [
        ("in_layers.0.", "norm1."),
        ("in_layers.2.", "conv1."),
        ("emb_layers.1.", "time_emb_proj."),
        ("out_layers.0.", "norm2."),
        ("out_layers.3.", "conv2."),
        ("skip_connection.", "conv_shortcut."),
    ];
    RENAMES
        .iter()
        .find_map(|(from, to)| Some(format!("{to}{}", rest.strip_prefix(from)?)))
}

fn split_index(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

/// One LDM U-Net key (without `model.diffusion_model.`) → its diffusers name.
fn unet_name(key: &str, layers: usize) -> Option<String> {
    let (head, rest) = key.split_once('.')?;
    match head {
        "time_embed" | "label_emb" => {
            let target = if head == "time_embed" {
                "time_embedding"
            } else {
                "add_embedding"
            };
            // label_emb has one more level of nesting: label_emb.0.{0,2}.
            let rest = if head == "label_emb" {
                rest.strip_prefix("0.")?
            } else {
                rest
            };
            let (i, param) = split_index(rest)?;
            let linear = match i {
                0 => "linear_1",
                2 => "linear_2",
                _ => return None,
            };
            Some(format!("{target}.{linear}.{param}"))
        }
        "input_blocks" => {
            let (i, rest) = split_index(rest)?;
            let (j, param) = split_index(rest)?;
            if i == 0 {
                return Some(format!("conv_in.{param}"));
            }
            let (block, layer) = ((i - 1) / (layers + 1), (i - 1) % (layers + 1));
            if layer == layers {
                let param = param.strip_prefix("op.")?;
                return Some(format!("down_blocks.{block}.downsamplers.0.conv.{param}"));
            }
            match j {
                0 => Some(format!(
                    "down_blocks.{block}.resnets.{layer}.{}",
                    resnet_name(param)?
                )),
                1 => Some(format!("down_blocks.{block}.attentions.{layer}.{param}")),
                _ => None,
            }
        }
        "middle_block" => {
            let (i, param) = split_index(rest)?;
            match i {
                0 => Some(format!("mid_block.resnets.0.{}", resnet_name(param)?)),
                1 => Some(format!("mid_block.attentions.0.{param}")),
                2 => Some(format!("mid_block.resnets.1.{}", resnet_name(param)?)),
                _ => None,
            }
        }
        "output_blocks" => {
            let (i, rest) = split_index(rest)?;
            let (j, param) = split_index(rest)?;
            let (block, layer) = (i / (layers + 1), i % (layers + 1));
            if j == 0 {
                return Some(format!(
                    "up_blocks.{block}.resnets.{layer}.{}",
                    resnet_name(param)?
                ));
            }
            // The upsampler follows the attention (index 2) or, in blocks
            // without attention, the resnet (index 1); only it has `conv.`.
            if let Some(param) = param.strip_prefix("conv.") {
                return Some(format!("up_blocks.{block}.upsamplers.0.conv.{param}"));
            }
            (j == 1).then(|| format!("up_blocks.{block}.attentions.{layer}.{param}"))
        }
        "out" => {
            let (i, param) = split_index(rest)?;
            match i {
                0 => Some(format!("conv_norm_out.{param}")),
                2 => Some(format!("conv_out.{param}")),
                _ => None,
            }
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- VAE

fn vae_part(
    shapes: &Shapes,
    file: &SafeTensorsFile,
    family: ModelFamily,
) -> Result<(VaeConfig, WeightSource)> {
    let p = |rest: &str| format!("{VAE}{rest}");
    if !shapes.has_prefix(VAE) {
        return Err(bad(
            shapes.path,
            "the checkpoint has no VAE (first_stage_model.*); only complete checkpoints can be loaded",
        ));
    }
    let levels = shapes.indices(&p("encoder.down.")).len();
    if levels == 0 {
        return Err(bad(shapes.path, "the VAE encoder has no blocks"));
    }
    let channels = (0..levels)
        .map(|i| shapes.dim(&p(&format!("encoder.down.{i}.block.0.conv1.weight")), 0))
        .collect::<Result<Vec<_>>>()?;
    let sdxl = family == ModelFamily::Sdxl;
    let config: VaeConfig = shapes.config(
        "VAE",
        json!({
            "in_channels": shapes.dim(&p("encoder.conv_in.weight"), 1)?,
            "out_channels": shapes.dim(&p("decoder.conv_out.weight"), 0)?,
            "block_out_channels": channels,
            "layers_per_block": shapes.indices(&p("encoder.down.0.block.")).len(),
            "latent_channels": shapes.dim(&p("decoder.conv_in.weight"), 1)?,
            "down_block_types": vec!["DownEncoderBlock2D"; levels],
            "up_block_types": vec!["UpDecoderBlock2D"; levels],
            "scaling_factor": if sdxl { 0.13025 } else { 0.18215 },
            "force_upcast": sdxl,
            "use_quant_conv": shapes.has_prefix(&p("quant_conv.")),
            "use_post_quant_conv": shapes.has_prefix(&p("post_quant_conv.")),
        }),
    )?;
    let weights = renamed(file, VAE, |rest| {
        vae_name(rest, levels)
            .map(|name| vec![(name, Stored::Whole(format!("{VAE}{rest}")))])
            .unwrap_or_default()
    });
    Ok((config, weights))
}

/// One LDM VAE key (without `first_stage_model.`) → its diffusers name.
fn vae_name(key: &str, levels: usize) -> Option<String> {
    let (side, rest) = key.split_once('.')?;
    if matches!(side, "quant_conv" | "post_quant_conv") {
        return Some(key.to_string());
    }
    if !matches!(side, "encoder" | "decoder") {
        return None;
    }
    let resnet = |param: &str| param.replace("nin_shortcut.", "conv_shortcut.");
    let (part, rest) = rest.split_once('.')?;
    let inner = match part {
        "conv_in" | "conv_out" => format!("{part}.{rest}"),
        "norm_out" => format!("conv_norm_out.{rest}"),
        "down" | "up" => {
            let (i, rest) = split_index(rest)?;
            // LDM numbers decoder blocks from the lowest resolution up;
            // diffusers numbers them in the order they run.
            let (blocks, i) = if part == "down" {
                ("down_blocks", i)
            } else {
                ("up_blocks", levels.checked_sub(1 + i)?)
            };
            let (kind, rest) = rest.split_once('.')?;
            match kind {
                "block" => {
                    let (j, param) = split_index(rest)?;
                    format!("{blocks}.{i}.resnets.{j}.{}", resnet(param))
                }
                "downsample" => format!("{blocks}.{i}.downsamplers.0.{rest}"),
                "upsample" => format!("{blocks}.{i}.upsamplers.0.{rest}"),
                _ => return None,
            }
        }
        "mid" => {
            let (kind, param) = rest.split_once('.')?;
            match kind {
                "block_1" => format!("mid_block.resnets.0.{}", resnet(param)),
                "block_2" => format!("mid_block.resnets.1.{}", resnet(param)),
                "attn_1" => {
                    let (layer, param) = param.split_once('.')?;
                    let layer = match layer {
                        "norm" => "group_norm",
                        "q" => "to_q",
                        "k" => "to_k",
                        "v" => "to_v",
                        "proj_out" => "to_out.0",
                        _ => return None,
                    };
                    format!("mid_block.attentions.0.{layer}.{param}")
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(format!("{side}.{inner}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unet_names_follow_the_ldm_layout() {
        let cases = [
            ("time_embed.0.weight", "time_embedding.linear_1.weight"),
            ("label_emb.0.2.bias", "add_embedding.linear_2.bias"),
            ("input_blocks.0.0.weight", "conv_in.weight"),
            (
                "input_blocks.1.0.in_layers.2.weight",
                "down_blocks.0.resnets.0.conv1.weight",
            ),
            (
                "input_blocks.2.1.proj_in.weight",
                "down_blocks.0.attentions.1.proj_in.weight",
            ),
            (
                "input_blocks.3.0.op.bias",
                "down_blocks.0.downsamplers.0.conv.bias",
            ),
            (
                "input_blocks.4.0.skip_connection.weight",
                "down_blocks.1.resnets.0.conv_shortcut.weight",
            ),
            (
                "middle_block.1.transformer_blocks.0.attn1.to_q.weight",
                "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight",
            ),
            (
                "middle_block.2.emb_layers.1.weight",
                "mid_block.resnets.1.time_emb_proj.weight",
            ),
            (
                "output_blocks.2.1.conv.weight",
                "up_blocks.0.upsamplers.0.conv.weight",
            ),
            (
                "output_blocks.5.2.conv.bias",
                "up_blocks.1.upsamplers.0.conv.bias",
            ),
            (
                "output_blocks.5.1.norm.weight",
                "up_blocks.1.attentions.2.norm.weight",
            ),
            (
                "output_blocks.11.0.out_layers.3.weight",
                "up_blocks.3.resnets.2.conv2.weight",
            ),
            ("out.0.weight", "conv_norm_out.weight"),
            ("out.2.bias", "conv_out.bias"),
        ];
        for (ldm, diffusers) in cases {
            assert_eq!(unet_name(ldm, 2).as_deref(), Some(diffusers), "{ldm}");
        }
        assert_eq!(unet_name("something.else", 2), None);
    }

    #[test]
    fn vae_names_reverse_the_decoder_blocks() {
        let cases = [
            (
                "encoder.down.0.block.1.nin_shortcut.weight",
                "encoder.down_blocks.0.resnets.1.conv_shortcut.weight",
            ),
            (
                "encoder.down.2.downsample.conv.weight",
                "encoder.down_blocks.2.downsamplers.0.conv.weight",
            ),
            (
                "decoder.up.3.block.0.conv1.bias",
                "decoder.up_blocks.0.resnets.0.conv1.bias",
            ),
            (
                "decoder.up.1.upsample.conv.weight",
                "decoder.up_blocks.2.upsamplers.0.conv.weight",
            ),
            (
                "decoder.mid.attn_1.proj_out.weight",
                "decoder.mid_block.attentions.0.to_out.0.weight",
            ),
            (
                "encoder.mid.block_2.norm2.bias",
                "encoder.mid_block.resnets.1.norm2.bias",
            ),
            ("encoder.norm_out.weight", "encoder.conv_norm_out.weight"),
            ("post_quant_conv.weight", "post_quant_conv.weight"),
        ];
        for (ldm, diffusers) in cases {
            assert_eq!(vae_name(ldm, 4).as_deref(), Some(diffusers), "{ldm}");
        }
    }

    #[test]
    fn open_clip_in_proj_becomes_three_slices() {
        let names = open_clip_names("m.", "transformer.resblocks.3.attn.in_proj_weight", 32);
        let got: Vec<_> = names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            got,
            [
                "text_model.encoder.layers.3.self_attn.q_proj.weight",
                "text_model.encoder.layers.3.self_attn.k_proj.weight",
                "text_model.encoder.layers.3.self_attn.v_proj.weight",
            ]
        );
        assert!(open_clip_names("m.", "transformer.resblocks.23.ln_1.weight", 23).is_empty());
        assert!(matches!(
            open_clip_names("m.", "text_projection", 32)[0].1,
            Stored::Transposed(_)
        ));
    }

    #[test]
    fn family_comes_from_the_prefixes() {
        let p = Path::new("x.safetensors");
        let fam = |keys: &[&str]| detect_family(p, keys.iter().copied());
        assert_eq!(
            fam(&[
                "model.diffusion_model.a",
                "cond_stage_model.transformer.text_model.b"
            ])
            .unwrap(),
            ModelFamily::Sd1
        );
        assert_eq!(
            fam(&[
                "model.diffusion_model.a",
                "cond_stage_model.model.ln_final.weight"
            ])
            .unwrap(),
            ModelFamily::Sd2
        );
        assert_eq!(
            fam(&[
                "model.diffusion_model.a",
                "conditioner.embedders.0.transformer.x",
                "conditioner.embedders.1.model.y"
            ])
            .unwrap(),
            ModelFamily::Sdxl
        );
        let lora = fam(&["lora_unet_down_blocks_0.alpha"])
            .unwrap_err()
            .to_string();
        assert!(lora.contains("LoRA"), "{lora}");
        assert!(fam(&["model.diffusion_model.a"]).is_err());
    }
}
