//! Turning the prompt and negative prompt into the U-Net's conditioning.
//!
//! Prompts longer than 75 tokens are split into 75-token chunks, each encoded
//! on its own and concatenated along the sequence axis (the AUTOMATIC1111
//! convention); the shorter of prompt and negative prompt is padded with
//! empty chunks so both have the same length.
//!
//! SD 1.x/2.x use the encoder's final (layer-normed) hidden states. SDXL
//! concatenates the *penultimate* hidden states of both encoders and also
//! passes the second encoder's pooled output plus the size conditioning.

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::models::stable_diffusion::{ModelFamily, StableDiffusion, TextEncoder};
use crate::networks::unet::TextTimeConditioning;

/// What the U-Net is conditioned on for one job.
#[derive(Debug, Clone)]
pub struct Conditioning {
    /// `[2, seq, dim]` (negative first, then prompt) with guidance, else `[1, seq, dim]`.
    pub context: Tensor,
    /// SDXL only, batched like `context`.
    pub text_time: Option<TextTimeConditioning>,
    /// Tokens in the prompt (without BOS/EOS), as shown in a "23/75" counter.
    pub token_count: usize,
}

/// One encoder's result for a text: context and pooled output of the first chunk.
struct Encoded {
    context: Tensor,
    pooled: Tensor,
}

fn encode_text(
    enc: &TextEncoder,
    chunks: &[Vec<u32>],
    penultimate: bool,
    device: &candle_core::Device,
) -> Result<Encoded> {
    let n = chunks.len();
    let len = chunks[0].len();
    let ids: Vec<u32> = chunks.iter().flatten().copied().collect();
    let ids = Tensor::from_vec(ids, (n, len), device)?;
    let out = enc.model.forward(&ids)?;
    let hidden = if penultimate {
        out.penultimate
    } else {
        out.last_hidden_state
    };
    let dim = hidden.dim(2)?;
    Ok(Encoded {
        context: hidden.reshape((1, n * len, dim))?,
        pooled: out.pooled.get(0)?.unsqueeze(0)?,
    })
}

/// Pad a chunk list with empty chunks (BOS, EOS, padding) to `n` chunks.
fn pad_chunks(mut chunks: Vec<Vec<u32>>, n: usize, empty: &[u32]) -> Vec<Vec<u32>> {
    while chunks.len() < n {
        chunks.push(empty.to_vec());
    }
    chunks
}

/// Encode prompt and negative prompt for `model` at the output size `(w, h)`.
pub fn encode_prompts(
    model: &StableDiffusion,
    prompt: &str,
    negative: &str,
    guidance: bool,
    (width, height): (u32, u32),
) -> Result<Conditioning> {
    let sdxl = model.family == ModelFamily::Sdxl;
    let zero_negative =
        guidance && model.force_zeros_for_empty_prompt && negative.trim().is_empty();
    let mut token_count = 0;
    let mut cond_parts = Vec::new();
    let mut uncond_parts = Vec::new();
    let mut pooled = None;
    for (i, enc) in model.text_encoders.iter().enumerate() {
        let pos = enc.tokenizer.chunks(prompt)?;
        let neg = enc.tokenizer.chunks(negative)?;
        let empty = enc.tokenizer.chunks("")?.chunks.remove(0);
        if i == 0 {
            token_count = pos.token_count;
        }
        let n = pos
            .chunks
            .len()
            .max(if guidance { neg.chunks.len() } else { 0 });
        let cond = encode_text(enc, &pad_chunks(pos.chunks, n, &empty), sdxl, &model.device)?;
        let uncond = if guidance {
            let u = encode_text(enc, &pad_chunks(neg.chunks, n, &empty), sdxl, &model.device)?;
            if zero_negative {
                Some(Encoded {
                    context: u.context.zeros_like()?,
                    pooled: u.pooled.zeros_like()?,
                })
            } else {
                Some(u)
            }
        } else {
            None
        };
        if sdxl && i == model.text_encoders.len() - 1 {
            pooled = Some((
                cond.pooled.clone(),
                uncond.as_ref().map(|u| u.pooled.clone()),
            ));
        }
        cond_parts.push(cond.context);
        if let Some(u) = uncond {
            uncond_parts.push(u.context);
        }
    }
    let cond = Tensor::cat(&cond_parts, 2)?;
    let context = if guidance {
        Tensor::cat(&[Tensor::cat(&uncond_parts, 2)?, cond], 0)?
    } else {
        cond
    };
    let text_time = match pooled {
        Some((cond_pooled, uncond_pooled)) => {
            let batch = context.dim(0)?;
            // Original size = target size, no crop: what diffusers uses by default.
            let (h, w) = (height as f32, width as f32);
            let ids = Tensor::new(&[h, w, 0.0, 0.0, h, w], &model.device)?
                .unsqueeze(0)?
                .repeat((batch, 1))?;
            let text_embeds = match uncond_pooled {
                Some(u) => Tensor::cat(&[u, cond_pooled], 0)?,
                None => cond_pooled,
            };
            Some(TextTimeConditioning {
                text_embeds: text_embeds.to_dtype(DType::F32)?,
                time_ids: ids,
            })
        }
        None => None,
    };
    Ok(Conditioning {
        context: context.to_dtype(model.dtype)?,
        text_time,
        token_count,
    })
}
