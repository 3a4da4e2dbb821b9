//! The text encoders: CLIP-L in transformers' layout (SD 1.x, SDXL's first)
//! and OpenCLIP (SD 2.x, SDXL's second) with its fused q/k/v projection.

use serde_json::json;

use super::EncoderPart;
use super::{renamed, whole, Shapes};
use crate::error::Result;
use crate::models::tokenizer::Pad;
use crate::models::weights::{SafeTensorsFile, Stored};

/// CLIP heads are 64 wide in every Stable Diffusion text encoder.
fn clip_heads(shapes: &Shapes, hidden: usize) -> Result<usize> {
    if hidden == 0 || !hidden.is_multiple_of(64) {
        return Err(crate::Error::bad_weights(
            shapes.path,
            format!("text encoder width {hidden} is not a multiple of 64"),
        ));
    }
    Ok(hidden / 64)
}

/// SD 1.x / SDXL's CLIP-L: already in transformers' layout.
pub(super) fn hf_clip(
    shapes: &Shapes,
    file: &SafeTensorsFile,
    prefix: &str,
    pad: Pad,
) -> Result<EncoderPart> {
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
pub(super) fn open_clip(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
