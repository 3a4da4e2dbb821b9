//! The denoising U-Net (diffusers `UNet2DConditionModel`), built entirely from
//! its config.json: SD 1.x, SD 2.x, SDXL and tiny test models share this code.
//!
//! Unlike candle-transformers' U-Net this one has SDXL's `add_embedding`
//! (pooled text + size/crop conditioning) and bounded-memory attention.

mod blocks;
mod config;
mod embeddings;
mod transformer;

pub use config::{PerBlock, UNetConfig};
pub use embeddings::sinusoidal;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::networks::layers::{conv2d, Conv2d};

use blocks::{BlockParams, DownBlock, MidBlock, UpBlock, UpChannels};
use embeddings::TimestepEmbedding;

/// SDXL's extra conditioning: the second text encoder's pooled embedding and
/// the six `add_time_ids` (original size, crop top-left, target size).
#[derive(Debug, Clone)]
pub struct TextTimeConditioning {
    /// `[b, pooled_dim]`.
    pub text_embeds: Tensor,
    /// `[b, 6]` as f32: `[orig_h, orig_w, crop_top, crop_left, target_h, target_w]`.
    pub time_ids: Tensor,
}

/// The conditional U-Net.
pub struct UNet2DConditionModel {
    config: UNetConfig,
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    add_embedding: Option<TimestepEmbedding>,
    down: Vec<DownBlock>,
    mid: Option<MidBlock>,
    up: Vec<UpBlock>,
    norm_out: crate::networks::group_norm::GroupNorm,
    conv_out: Conv2d,
}

impl UNet2DConditionModel {
    /// Build every layer the config describes, reading weights from `vb`.
    pub fn new(vb: VarBuilder, config: &UNetConfig) -> Result<Self> {
        config.validate().map_err(candle_core::Error::Msg)?;
        let n = config.block_out_channels.len();
        let ch = &config.block_out_channels;
        let heads = config.heads();
        let layers = config.layers_per_block.expand(n);
        let context = config.cross_attention_dim.expand(n);
        let depth = config.transformer_layers_per_block.expand(n);
        let temb = ch[0] * 4;

        let conv_in = conv2d(vb.pp("conv_in"), config.in_channels, ch[0], 3, 1, 1)?;
        let time_embedding = TimestepEmbedding::new(vb.pp("time_embedding"), ch[0], temb)?;
        let add_embedding = if config.uses_text_time() {
            let in_dim = config
                .projection_class_embeddings_input_dim
                .unwrap_or_default();
            Some(TimestepEmbedding::new(
                vb.pp("add_embedding"),
                in_dim,
                temb,
            )?)
        } else {
            None
        };

        let params = |i: usize, cross: bool| BlockParams {
            groups: config.norm_num_groups,
            eps: config.norm_eps,
            temb,
            heads: heads[i],
            depth: depth[i],
            context_dim: context[i],
            linear_projection: config.use_linear_projection,
            cross_attention: cross,
        };

        let mut down = Vec::with_capacity(n);
        let mut out_ch = ch[0];
        for (i, kind) in config.down_block_types.iter().enumerate() {
            let in_ch = out_ch;
            out_ch = ch[i];
            let last = i == n - 1;
            down.push(DownBlock::new(
                vb.pp(format!("down_blocks.{i}")),
                params(i, kind.starts_with("CrossAttn")),
                in_ch,
                out_ch,
                layers[i],
                (!last).then_some(config.downsample_padding),
            )?);
        }

        let mid = match config.mid_block_type {
            Some(_) => Some(MidBlock::new(
                vb.pp("mid_block"),
                params(n - 1, true),
                ch[n - 1],
                config.mid_block_scale_factor,
            )?),
            None => None,
        };

        // Up blocks mirror the down path; diffusers reverses every per-block list.
        let mut up = Vec::with_capacity(n);
        let rev = |i: usize| n - 1 - i;
        let mut out_ch = ch[n - 1];
        for (i, kind) in config.up_block_types.iter().enumerate() {
            let prev_out_ch = out_ch;
            out_ch = ch[rev(i)];
            let in_ch = ch[rev((i + 1).min(n - 1))];
            let mut p = params(rev(i), kind.starts_with("CrossAttn"));
            p.depth = depth[rev(i)];
            up.push(UpBlock::new(
                vb.pp(format!("up_blocks.{i}")),
                p,
                UpChannels {
                    in_ch,
                    out_ch,
                    prev_out_ch,
                },
                layers[rev(i)] + 1,
                i != n - 1,
            )?);
        }

        Ok(Self {
            config: config.clone(),
            conv_in,
            time_embedding,
            add_embedding,
            down,
            mid,
            up,
            norm_out: crate::networks::group_norm::group_norm(
                config.norm_num_groups,
                ch[0],
                config.norm_eps,
                vb.pp("conv_norm_out"),
            )?,
            conv_out: conv2d(vb.pp("conv_out"), ch[0], config.out_channels, 3, 1, 1)?,
        })
    }

    /// The config this network was built from.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// Set the native latent size. It shapes no layer, so a loader that only
    /// learns it by running the network (SD 2.x single files) sets it late.
    pub fn set_sample_size(&mut self, sample_size: usize) {
        self.config.sample_size = Some(sample_size);
    }

    /// Predict the noise (or v, or x0: whatever the model was trained for) in
    /// `sample: [b, c, h, w]` at `timestep`, given `context: [b, m, d]` text
    /// embeddings and, for SDXL, the pooled/size conditioning.
    pub fn forward(
        &self,
        sample: &Tensor,
        timestep: f64,
        context: &Tensor,
        text_time: Option<&TextTimeConditioning>,
    ) -> Result<Tensor> {
        let dtype = sample.dtype();
        let device = sample.device();
        let batch = sample.dim(0)?;
        let ch0 = self.config.block_out_channels[0];

        let t = sinusoidal(
            &vec![timestep; batch],
            ch0,
            self.config.flip_sin_to_cos,
            self.config.freq_shift,
            device,
        )?;
        let mut emb = self.time_embedding.forward(&t, dtype)?;
        if let Some(add) = &self.add_embedding {
            let cond = text_time.ok_or_else(|| {
                candle_core::Error::Msg(
                    "this U-Net needs SDXL conditioning (pooled text + time ids)".into(),
                )
            })?;
            let dim = self.config.addition_time_embed_dim.unwrap_or(256);
            let ids: Vec<f32> = cond
                .time_ids
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1()?;
            let ids: Vec<f64> = ids.into_iter().map(f64::from).collect();
            let time_embeds = sinusoidal(
                &ids,
                dim,
                self.config.flip_sin_to_cos,
                self.config.freq_shift,
                device,
            )?
            .reshape((batch, ids.len() / batch * dim))?;
            let add_in = Tensor::cat(&[&cond.text_embeds.to_dtype(DType::F32)?, &time_embeds], 1)?;
            emb = (emb + add.forward(&add_in, dtype)?)?;
        }

        let sample = if self.config.center_input_sample {
            ((sample * 2.0)? - 1.0)?
        } else {
            sample.clone()
        };
        let mut xs = self.conv_in.forward(&sample)?;
        let mut skips = vec![xs.clone()];
        for block in &self.down {
            let (out, states) = block.forward(&xs, &emb, context)?;
            xs = out;
            skips.extend(states);
        }
        if let Some(mid) = &self.mid {
            xs = mid.forward(&xs, &emb, context)?;
        }
        for block in &self.up {
            xs = block.forward(&xs, &mut skips, &emb, context)?;
        }
        let xs = self.norm_out.forward_silu(&xs)?;
        self.conv_out.forward(&xs)
    }
}
