//! The neural networks of a Stable Diffusion pipeline as candle modules:
//! plain structs built from their diffusers config and a `VarBuilder`, with
//! a `forward` (or `encode`/`decode`). They speak `candle_core::Result`, and
//! never see a path, the environment or the hub: [`crate::models`] reads
//! files and attaches paths to errors.
//!
//! - [`clip`]: the CLIP text encoder (transformers' `CLIPTextModel`);
//! - [`unet`]: the denoiser (diffusers' `UNet2DConditionModel`);
//! - [`vae`]: the autoencoder (`AutoencoderKL`) and [`vae::LatentToRgb`],
//!   its approximate latent→RGB map for step previews;
//! - [`taesd`]: the tiny preview decoder (`AutoencoderTiny`'s decoder);
//! - shared parts: [`layers`] (convolutions, resnet blocks, resampling),
//!   [`attention`] (memory-bounded scaled dot-product attention),
//!   [`geglu`] (the transformer's gated GELU in one parallel pass),
//!   [`im2col`] (the CPU kernel of stride-1 convolutions),
//!   [`group_norm`] (GroupNorm and SiLU in two parallel passes),
//!   [`softmax`] (its numerically careful softmax), [`linear`] and
//!   [`precision`] (weights kept as stored, f16 or bf16, widened per use);
//! - [`NetworkConfig`]: parsing and checking a config.json's text.

pub mod attention;
pub mod clip;
pub mod geglu;
pub mod group_norm;
pub mod im2col;
pub mod layers;
pub mod linear;
pub mod precision;
pub mod softmax;
pub mod taesd;
pub mod unet;
pub mod vae;

/// The values of a contiguous f32 CPU tensor, for our kernels' `cpu_fwd`;
/// `what` names the operand in the error.
pub(crate) fn f32_values<'a>(
    what: &str,
    storage: &'a candle_core::CpuStorage,
    layout: &candle_core::Layout,
) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (candle_core::CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{what} must be a contiguous f32 tensor"),
    }
}

/// A network's config.json, parsed from its text and checked so that the
/// network it describes can be built. The loader reads the file and names
/// it in errors ([`crate::models::config_file`]).
pub trait NetworkConfig: Sized {
    /// What the file configures, for messages ("the U-Net").
    const WHAT: &'static str;

    /// Parse and check; the error is a reason, without the file's name.
    fn from_json(text: &str) -> Result<Self, String>;
}
