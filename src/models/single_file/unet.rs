//! The U-Net: config from the block layout and shapes, and LDM's
//! `input_blocks`/`middle_block`/`output_blocks` names → diffusers'.

use serde_json::json;

use super::{renamed, Shapes};
use super::{split_index, UNET};
use crate::error::Result;
use crate::models::stable_diffusion::ModelFamily;
use crate::models::weights::{SafeTensorsFile, Stored, WeightSource};
use crate::networks::unet::UNetConfig;

pub(super) fn unet_part(
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
        return Err(crate::Error::bad_weights(
            shapes.path,
            "the U-Net has no downsampling blocks",
        ));
    };
    let layers = first_ds - 1;
    if layers == 0 {
        return Err(crate::Error::bad_weights(
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
        return Err(crate::Error::bad_weights(
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
        if input <= pooled || !(input - pooled).is_multiple_of(6) {
            return Err(crate::Error::bad_weights(
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
}
