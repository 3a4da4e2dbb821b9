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
//!
//! This file detects the family and assembles the parts; `text_encoders.rs`,
//! `unet.rs` and `vae.rs` each derive one network's config and map its names.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::models::stable_diffusion::ModelFamily;
use crate::models::tokenizer::Pad;
use crate::models::weights::{RenamedTensors, SafeTensorsFile, Stored, WeightSource};
use crate::networks::clip::ClipTextConfig;
use crate::networks::unet::{UNet2DConditionModel, UNetConfig};
use crate::networks::vae::VaeConfig;
use crate::sampling::schedulers::{PredictionType, SchedulerConfig};

mod text_encoders;
mod unet;
mod vae;

use text_encoders::{hf_clip, open_clip};
use unet::unet_part;
use vae::vae_part;

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
        return Err(Error::bad_weights(path, what));
    }
    match (sd1, sd2, xl_l, xl_g) {
        (_, _, true, true) => Ok(ModelFamily::Sdxl),
        (_, _, false, true) => Err(Error::bad_weights(
            path,
            "this looks like the SDXL refiner (only the OpenCLIP-G encoder); load an SDXL base model instead",
        )),
        (_, true, _, _) => Ok(ModelFamily::Sd2),
        (true, _, _, _) => Ok(ModelFamily::Sd1),
        _ => Err(Error::bad_weights(
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
pub(super) struct Shapes<'a> {
    file: &'a SafeTensorsFile,
    path: &'a Path,
}

impl Shapes<'_> {
    fn of(&self, key: &str) -> Result<&[usize]> {
        self.file
            .tensors()
            .get(key)
            .map(|t| t.shape.as_slice())
            .ok_or_else(|| {
                Error::bad_weights(self.path, format!("the checkpoint has no tensor {key}"))
            })
    }

    fn dim(&self, key: &str, axis: usize) -> Result<usize> {
        let shape = self.of(key)?;
        shape.get(axis).copied().ok_or_else(|| {
            Error::bad_weights(self.path, format!("tensor {key} has shape {shape:?}"))
        })
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
        serde_json::from_value(value).map_err(|e| {
            Error::bad_weights(self.path, format!("cannot derive the {what} config: {e}"))
        })
    }
}

/// Serve the tensors under `prefix`, renamed by `rename` (None = unused).
pub(super) fn renamed(
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

pub(super) fn whole(prefix: &str, rest: &str, name: String) -> Vec<(String, Stored)> {
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

/// `"12.rest"` → `(12, "rest")`.
pub(super) fn split_index(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

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
