//! The KL autoencoder (diffusers' `AutoencoderKL`) that maps images to
//! latents and back, with diffusers' weight names.
//!
//! `config.rs` is the config.json as data ([`VaeConfig`]); `blocks.rs` holds the encoder and
//! decoder stacks; `latent_rgb.rs` the linear preview map; this file the
//! autoencoder and its latent distribution.

mod blocks;
mod config;
mod latent_rgb;

pub use config::VaeConfig;
pub use latent_rgb::{LatentSpace, LatentToRgb};

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::networks::layers::{conv2d, Conv2d};
use blocks::{Decoder, Encoder};
use candle_core::Result;

/// Diagonal Gaussian over latents produced by [`AutoencoderKl::encode`].
#[derive(Debug, Clone)]
pub struct LatentDist {
    /// `[b, latent_channels, H/f, W/f]` mean (the deterministic latent).
    pub mean: Tensor,
    /// Log-variance, clamped to [-30, 20] as diffusers does.
    pub logvar: Tensor,
}

impl LatentDist {
    /// `mean + exp(logvar/2)·noise` for standard-normal `noise` of the mean's shape.
    pub fn sample(&self, noise: &Tensor) -> Result<Tensor> {
        let std = (&self.logvar * 0.5)?.exp()?;
        &self.mean + std.broadcast_mul(noise)?
    }
}

/// The KL VAE: encoder, optional `quant_conv`/`post_quant_conv`, decoder.
pub struct AutoencoderKl {
    encoder: Encoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    decoder: Decoder,
    config: VaeConfig,
}

impl AutoencoderKl {
    /// Builds the model from diffusers weight names (`encoder.…`, `decoder.…`).
    pub fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        cfg.validate()
            .map_err(|reason| candle_core::Error::Msg(format!("bad VAE config: {reason}")))?;
        let l = cfg.latent_channels;
        let quant_conv = cfg
            .use_quant_conv
            .then(|| conv2d(vb.pp("quant_conv"), 2 * l, 2 * l, 1, 0, 1))
            .transpose()?;
        let post_quant_conv = cfg
            .use_post_quant_conv
            .then(|| conv2d(vb.pp("post_quant_conv"), l, l, 1, 0, 1))
            .transpose()?;
        Ok(Self {
            encoder: Encoder::new(vb.pp("encoder"), cfg)?,
            quant_conv,
            post_quant_conv,
            decoder: Decoder::new(vb.pp("decoder"), cfg)?,
            config: cfg.clone(),
        })
    }

    /// The config this model was built from.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// Encodes images `[b, in_channels, H, W]` in [-1, 1] (H, W multiples
    /// of the downscale factor) to the latent distribution (unscaled).
    pub fn encode(&self, x: &Tensor) -> Result<LatentDist> {
        let mut h = self.encoder.forward(x)?;
        if let Some(q) = &self.quant_conv {
            h = q.forward(&h)?;
        }
        let l = self.config.latent_channels;
        let mean = h.narrow(1, 0, l)?;
        let logvar = h.narrow(1, l, l)?.clamp(-30f32, 20f32)?;
        Ok(LatentDist { mean, logvar })
    }

    /// Decodes unscaled latents `[b, latent_channels, h, w]` to images in
    /// (roughly) [-1, 1]; callers clamp.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let z = match &self.post_quant_conv {
            Some(p) => p.forward(z)?,
            None => z.clone(),
        };
        self.decoder.forward(&z)
    }
}
