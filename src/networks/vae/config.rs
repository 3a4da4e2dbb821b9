//! The VAE's config.json (diffusers `AutoencoderKL`), as data.

use serde::Deserialize;

/// GroupNorm epsilon used everywhere in the VAE.
pub(super) const EPS: f64 = 1e-6;

/// A diffusers `AutoencoderKL` config.json; defaults are diffusers' own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VaeConfig {
    /// Image channels in (3).
    #[serde(default = "d_rgb")]
    pub in_channels: usize,
    /// Image channels out (3).
    #[serde(default = "d_rgb")]
    pub out_channels: usize,
    /// Width of each resolution level; the latent is 2^(levels-1) times smaller.
    #[serde(default = "d_blocks")]
    pub block_out_channels: Vec<usize>,
    /// Resnets per encoder level (the decoder has one more).
    #[serde(default = "d_one")]
    pub layers_per_block: usize,
    /// Latent channels (4 for SD 1.x/2.x/XL).
    #[serde(default = "d_latent")]
    pub latent_channels: usize,
    /// GroupNorm groups.
    #[serde(default = "d_groups")]
    pub norm_num_groups: usize,
    /// Multiplier from VAE latents to diffusion latents (0.18215 SD, 0.13025 SDXL).
    #[serde(default = "d_scaling")]
    pub scaling_factor: f64,
    /// Offset subtracted before scaling (SD3/Flux-style VAEs), if any.
    #[serde(default)]
    pub shift_factor: Option<f64>,
    /// Whether this VAE overflows in f16 and should run in f32 (SDXL's).
    #[serde(default = "d_true")]
    pub force_upcast: bool,
    /// Whether `quant_conv` (1×1 after the encoder) exists.
    #[serde(default = "d_true")]
    pub use_quant_conv: bool,
    /// Whether `post_quant_conv` (1×1 before the decoder) exists.
    #[serde(default = "d_true")]
    pub use_post_quant_conv: bool,
    /// Whether the mid blocks have self-attention.
    #[serde(default = "d_true")]
    pub mid_block_add_attention: bool,
    /// Encoder block types; only `DownEncoderBlock2D` exists in KL VAEs.
    #[serde(default)]
    pub down_block_types: Vec<String>,
    /// Decoder block types; only `UpDecoderBlock2D` exists in KL VAEs.
    #[serde(default)]
    pub up_block_types: Vec<String>,
    /// Nominal image size the VAE was trained at.
    #[serde(default = "d_sample")]
    pub sample_size: usize,
}

fn d_rgb() -> usize {
    3
}
fn d_blocks() -> Vec<usize> {
    vec![64]
}
fn d_one() -> usize {
    1
}
fn d_latent() -> usize {
    4
}
fn d_groups() -> usize {
    32
}
fn d_scaling() -> f64 {
    0.18215
}
fn d_true() -> bool {
    true
}
fn d_sample() -> usize {
    32
}

impl crate::networks::NetworkConfig for VaeConfig {
    const WHAT: &'static str = "the VAE";

    fn from_json(text: &str) -> std::result::Result<Self, String> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }
}

impl VaeConfig {
    /// Checks what the model code relies on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.block_out_channels.is_empty() || self.layers_per_block == 0 {
            return Err("block_out_channels and layers_per_block must not be empty/zero".into());
        }
        let g = self.norm_num_groups;
        if g == 0 || self.block_out_channels.iter().any(|c| c % g != 0) {
            return Err(format!(
                "block_out_channels {:?} must be multiples of norm_num_groups {g}",
                self.block_out_channels
            ));
        }
        let n = self.block_out_channels.len();
        for (types, want) in [
            (&self.down_block_types, "DownEncoderBlock2D"),
            (&self.up_block_types, "UpDecoderBlock2D"),
        ] {
            if !types.is_empty() && types.len() != n {
                return Err(format!("{} block types for {n} levels", types.len()));
            }
            if let Some(t) = types.iter().find(|t| *t != want) {
                return Err(format!("unsupported VAE block type {t:?} (only {want})"));
            }
        }
        Ok(())
    }

    /// How many times smaller the latent is than the image (8 for SD).
    pub fn downscale_factor(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}
