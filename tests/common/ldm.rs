//! Writes a diffusers-layout tiny model as one single-file checkpoint in the
//! original LDM key layout, the way real SD 1.x / 2.x / SDXL checkpoints are
//! stored (conv-shaped VAE attention, OpenCLIP's fused `in_proj`, transposed
//! `text_projection`, SD 2.x's unused last text layer).
//!
//! This is written independently of `src/models/single_file.rs` (it maps in
//! the opposite direction, diffusers → LDM, as the reference scripts do), so a
//! wrong rule on either side shows up as a failed comparison.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use latent_studio::models::weights::SafeTensorsFile;

use super::Family;

fn read_all(path: &Path) -> HashMap<String, Tensor> {
    let file = SafeTensorsFile::open(path).unwrap();
    file.tensors()
        .keys()
        .map(|k| (k.clone(), file.load(k, DType::F32, &Device::Cpu).unwrap()))
        .collect()
}

/// A text encoder's tensors with transformers' full names (`text_model.…`),
/// as checkpoints store them; our fixture writes the bare form.
fn read_clip(path: &Path) -> HashMap<String, Tensor> {
    read_all(path)
        .into_iter()
        .map(|(k, t)| {
            if k.starts_with("text_model.") || k.starts_with("text_projection") {
                (k, t)
            } else {
                (format!("text_model.{k}"), t)
            }
        })
        .collect()
}

fn resnet(name: &str) -> String {
    [
        ("norm1.", "in_layers.0."),
        ("conv1.", "in_layers.2."),
        ("time_emb_proj.", "emb_layers.1."),
        ("norm2.", "out_layers.0."),
        ("conv2.", "out_layers.3."),
        ("conv_shortcut.", "skip_connection."),
    ]
    .iter()
    .find_map(|(from, to)| name.strip_prefix(from).map(|r| format!("{to}{r}")))
    .unwrap_or_else(|| panic!("unknown resnet tensor {name}"))
}

/// `prefix.{n}.rest` → (n, rest)
fn numbered<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, rest) = rest.split_once('.')?;
    Some((n.parse().ok()?, rest))
}

fn unet_key(name: &str, layers: usize, up_has_attention: &[bool]) -> String {
    let stride = layers + 1;
    if let Some(r) = name.strip_prefix("conv_in.") {
        return format!("input_blocks.0.0.{r}");
    }
    if let Some(r) = name.strip_prefix("conv_norm_out.") {
        return format!("out.0.{r}");
    }
    if let Some(r) = name.strip_prefix("conv_out.") {
        return format!("out.2.{r}");
    }
    for (diffusers, ldm) in [
        ("time_embedding", "time_embed"),
        ("add_embedding", "label_emb.0"),
    ] {
        if let Some(r) = name.strip_prefix(&format!("{diffusers}.linear_1.")) {
            return format!("{ldm}.0.{r}");
        }
        if let Some(r) = name.strip_prefix(&format!("{diffusers}.linear_2.")) {
            return format!("{ldm}.2.{r}");
        }
    }
    if let Some((b, r)) = numbered(name, "down_blocks.") {
        if let Some((l, r)) = numbered(r, "resnets.") {
            return format!("input_blocks.{}.0.{}", b * stride + l + 1, resnet(r));
        }
        if let Some((l, r)) = numbered(r, "attentions.") {
            return format!("input_blocks.{}.1.{r}", b * stride + l + 1);
        }
        let r = r.strip_prefix("downsamplers.0.conv.").unwrap();
        return format!("input_blocks.{}.0.op.{r}", (b + 1) * stride);
    }
    if let Some(r) = name.strip_prefix("mid_block.") {
        if let Some((i, r)) = numbered(r, "resnets.") {
            return format!("middle_block.{}.{}", i * 2, resnet(r));
        }
        let r = r.strip_prefix("attentions.0.").unwrap();
        return format!("middle_block.1.{r}");
    }
    let (b, r) = numbered(name, "up_blocks.").unwrap_or_else(|| panic!("unknown {name}"));
    if let Some((l, r)) = numbered(r, "resnets.") {
        return format!("output_blocks.{}.0.{}", b * stride + l, resnet(r));
    }
    if let Some((l, r)) = numbered(r, "attentions.") {
        return format!("output_blocks.{}.1.{r}", b * stride + l);
    }
    let r = r.strip_prefix("upsamplers.0.conv.").unwrap();
    let slot = if up_has_attention[b] { 2 } else { 1 };
    format!("output_blocks.{}.{slot}.conv.{r}", b * stride + layers)
}

fn vae_key(name: &str, levels: usize) -> String {
    let res = |r: &str| r.replace("conv_shortcut.", "nin_shortcut.");
    let (side, r) = name.split_once('.').unwrap();
    if side == "quant_conv" || side == "post_quant_conv" {
        return name.to_string();
    }
    let inner = if let Some(r) = r.strip_prefix("conv_norm_out.") {
        format!("norm_out.{r}")
    } else if r.starts_with("conv_in.") || r.starts_with("conv_out.") {
        r.to_string()
    } else if let Some((i, r)) = numbered(r, "down_blocks.") {
        match numbered(r, "resnets.") {
            Some((j, r)) => format!("down.{i}.block.{j}.{}", res(r)),
            None => format!(
                "down.{i}.downsample.{}",
                r.strip_prefix("downsamplers.0.").unwrap()
            ),
        }
    } else if let Some((i, r)) = numbered(r, "up_blocks.") {
        let i = levels - 1 - i;
        match numbered(r, "resnets.") {
            Some((j, r)) => format!("up.{i}.block.{j}.{}", res(r)),
            None => format!(
                "up.{i}.upsample.{}",
                r.strip_prefix("upsamplers.0.").unwrap()
            ),
        }
    } else if let Some(r) = r.strip_prefix("mid_block.") {
        if let Some((i, r)) = numbered(r, "resnets.") {
            format!("mid.block_{}.{}", i + 1, res(r))
        } else {
            let r = r.strip_prefix("attentions.0.").unwrap();
            let (layer, p) = r.split_once('.').unwrap();
            let (layer, p) = match layer {
                "group_norm" => ("norm", p),
                "to_q" => ("q", p),
                "to_k" => ("k", p),
                "to_v" => ("v", p),
                "to_out" => ("proj_out", p.strip_prefix("0.").unwrap()),
                other => panic!("unknown VAE attention tensor {other}"),
            };
            format!("mid.attn_1.{layer}.{p}")
        }
    } else {
        panic!("unknown VAE tensor {name}")
    };
    format!("{side}.{inner}")
}

/// transformers CLIP → OpenCLIP, fusing q/k/v; `extra_layer` appends one more
/// (random) resblock like SD 2.x's 24th, which the pipeline must not use.
fn open_clip(
    out: &mut HashMap<String, Tensor>,
    prefix: &str,
    t: HashMap<String, Tensor>,
    extra_layer: bool,
) {
    let get = |n: &str| t[n].clone();
    let tm = "text_model.";
    out.insert(
        format!("{prefix}token_embedding.weight"),
        get(&format!("{tm}embeddings.token_embedding.weight")),
    );
    out.insert(
        format!("{prefix}positional_embedding"),
        get(&format!("{tm}embeddings.position_embedding.weight")),
    );
    out.insert(
        format!("{prefix}ln_final.weight"),
        get(&format!("{tm}final_layer_norm.weight")),
    );
    out.insert(
        format!("{prefix}ln_final.bias"),
        get(&format!("{tm}final_layer_norm.bias")),
    );
    if let Some(p) = t.get("text_projection.weight") {
        out.insert(
            format!("{prefix}text_projection"),
            p.t().unwrap().contiguous().unwrap(),
        );
    }
    let layers = t
        .keys()
        .filter_map(|k| numbered(k, "text_model.encoder.layers."))
        .map(|(i, _)| i + 1)
        .max()
        .unwrap();
    for i in 0..layers + usize::from(extra_layer) {
        // The extra layer is a copy of layer 0 scaled: different, unused.
        let src = if i == layers { 0 } else { i };
        let l = |n: &str| {
            let x = get(&format!("{tm}encoder.layers.{src}.{n}"));
            if i == layers {
                (x * 3.0).unwrap()
            } else {
                x
            }
        };
        let r = format!("{prefix}transformer.resblocks.{i}.");
        for p in ["weight", "bias"] {
            let fused = Tensor::cat(
                &[
                    l(&format!("self_attn.q_proj.{p}")),
                    l(&format!("self_attn.k_proj.{p}")),
                    l(&format!("self_attn.v_proj.{p}")),
                ],
                0,
            )
            .unwrap();
            out.insert(format!("{r}attn.in_proj_{p}"), fused);
            for (hf, oc) in [
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                ("mlp.fc1", "mlp.c_fc"),
                ("mlp.fc2", "mlp.c_proj"),
                ("self_attn.out_proj", "attn.out_proj"),
            ] {
                out.insert(format!("{r}{oc}.{p}"), l(&format!("{hf}.{p}")));
            }
        }
    }
}

/// Write the diffusers model at `root` (of `family`) as `out` in LDM layout.
pub fn write_checkpoint(root: &Path, family: Family, out: &Path) {
    let unet_cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("unet/config.json")).unwrap())
            .unwrap();
    let layers = unet_cfg["layers_per_block"].as_u64().unwrap() as usize;
    let up_has_attention: Vec<bool> = unet_cfg["up_block_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().starts_with("CrossAttn"))
        .collect();
    let vae_cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("vae/config.json")).unwrap())
            .unwrap();
    let levels = vae_cfg["block_out_channels"].as_array().unwrap().len();

    let mut all = HashMap::new();
    for (name, t) in read_all(&root.join("unet/diffusion_pytorch_model.safetensors")) {
        all.insert(
            format!(
                "model.diffusion_model.{}",
                unet_key(&name, layers, &up_has_attention)
            ),
            t,
        );
    }
    for (name, t) in read_all(&root.join("vae/diffusion_pytorch_model.safetensors")) {
        let key = vae_key(&name, levels);
        // LDM keeps the VAE's attention projections as 1×1 convolutions.
        let t = if t.rank() == 2 && key.contains(".attn_1.") {
            let (o, i) = t.dims2().unwrap();
            t.reshape((o, i, 1, 1)).unwrap()
        } else {
            t
        };
        all.insert(format!("first_stage_model.{key}"), t);
    }
    let te = read_clip(&root.join("text_encoder/model.safetensors"));
    match family {
        Family::Sd1 => {
            for (name, t) in te {
                all.insert(format!("cond_stage_model.transformer.{name}"), t);
            }
        }
        Family::Sd2 => open_clip(&mut all, "cond_stage_model.model.", te, true),
        Family::Sdxl => {
            for (name, t) in te {
                all.insert(format!("conditioner.embedders.0.transformer.{name}"), t);
            }
            let te2 = read_clip(&root.join("text_encoder_2/model.safetensors"));
            open_clip(&mut all, "conditioner.embedders.1.model.", te2, false);
        }
    }
    candle_core::safetensors::save(&all, out).unwrap();
}
