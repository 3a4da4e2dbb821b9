//! The VAE: config from the shapes, and LDM's `encoder.down`/`decoder.up`
//! (numbered from the lowest resolution) names → diffusers'.

use serde_json::json;

use super::{renamed, Shapes};
use super::{split_index, VAE};
use crate::error::Result;
use crate::models::stable_diffusion::ModelFamily;
use crate::models::weights::{SafeTensorsFile, Stored, WeightSource};
use crate::networks::vae::VaeConfig;

pub(super) fn vae_part(
    shapes: &Shapes,
    file: &SafeTensorsFile,
    family: ModelFamily,
) -> Result<(VaeConfig, WeightSource)> {
    let p = |rest: &str| format!("{VAE}{rest}");
    if !shapes.has_prefix(VAE) {
        return Err(crate::Error::bad_weights(
            shapes.path,
            "the checkpoint has no VAE (first_stage_model.*); only complete checkpoints can be loaded",
        ));
    }
    let levels = shapes.indices(&p("encoder.down.")).len();
    if levels == 0 {
        return Err(crate::Error::bad_weights(
            shapes.path,
            "the VAE encoder has no blocks",
        ));
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
}
