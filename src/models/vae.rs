//! The KL autoencoder (diffusers' `AutoencoderKL`) that maps images to
//! latents and back, with diffusers' weight names.

use std::path::Path;

use candle_core::{Module, Tensor};
use candle_nn::{GroupNorm, Linear, VarBuilder};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::models::attention::attention;
use crate::models::config_file::{bad_config, read_config};
use crate::models::layers::{conv2d, Conv2d, Downsample2D, ResnetBlock2D, Upsample2D};

/// GroupNorm epsilon used everywhere in the VAE.
const EPS: f64 = 1e-6;

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

impl VaeConfig {
    /// Reads and validates a `vae/config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let cfg: Self = read_config(path, "the VAE")?;
        cfg.validate().map_err(|reason| bad_config(path, reason))?;
        Ok(cfg)
    }

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

/// Single-head self-attention over all pixels, as in the VAE's mid block.
struct SpatialAttention {
    group_norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    scale: f64,
}

/// A linear layer stored either as `[out, in]` or as a 1×1 conv `[out, in, 1, 1]`
/// (older converted checkpoints).
fn linear_or_1x1(vb: VarBuilder, ch: usize) -> Result<Linear> {
    let weight = match vb.get((ch, ch), "weight") {
        Ok(w) => w,
        Err(e) => match vb.get((ch, ch, 1, 1), "weight") {
            Ok(w) => w.reshape((ch, ch))?,
            Err(_) => return Err(e.into()),
        },
    };
    let bias = vb.get(ch, "bias")?;
    Ok(Linear::new(weight, Some(bias)))
}

impl SpatialAttention {
    fn new(vb: VarBuilder, ch: usize, groups: usize) -> Result<Self> {
        // diffusers ≥ 0.14 names, or the older attention-block names.
        let old = !vb.contains_tensor("to_q.weight") && vb.contains_tensor("query.weight");
        let [q, k, v, out] = if old {
            ["query", "key", "value", "proj_attn"]
        } else {
            ["to_q", "to_k", "to_v", "to_out.0"]
        };
        Ok(Self {
            group_norm: candle_nn::group_norm(groups, ch, EPS, vb.pp("group_norm"))?,
            to_q: linear_or_1x1(vb.pp(q), ch)?,
            to_k: linear_or_1x1(vb.pp(k), ch)?,
            to_v: linear_or_1x1(vb.pp(v), ch)?,
            to_out: linear_or_1x1(vb.pp(out), ch)?,
            scale: (ch as f64).powf(-0.5),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let hs = self.group_norm.forward(x)?;
        // [b, c, h, w] -> [b, h·w, c]
        let hs = hs.reshape((b, c, h * w))?.transpose(1, 2)?.contiguous()?;
        let q = self.to_q.forward(&hs)?;
        let k = self.to_k.forward(&hs)?;
        let v = self.to_v.forward(&hs)?;
        drop(hs);
        let out = self.to_out.forward(&attention(&q, &k, &v, self.scale)?)?;
        let out = out.transpose(1, 2)?.reshape((b, c, h, w))?;
        Ok((out + x)?)
    }
}

/// Resnet, attention, resnet at the lowest resolution.
struct MidBlock {
    resnet0: ResnetBlock2D,
    attention: Option<SpatialAttention>,
    resnet1: ResnetBlock2D,
}

impl MidBlock {
    fn new(vb: VarBuilder, ch: usize, cfg: &VaeConfig) -> Result<Self> {
        let g = cfg.norm_num_groups;
        let attention = cfg
            .mid_block_add_attention
            .then(|| SpatialAttention::new(vb.pp("attentions.0"), ch, g))
            .transpose()?;
        Ok(Self {
            resnet0: ResnetBlock2D::new(vb.pp("resnets.0"), ch, ch, None, g, EPS)?,
            attention,
            resnet1: ResnetBlock2D::new(vb.pp("resnets.1"), ch, ch, None, g, EPS)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.resnet0.forward(x, None)?;
        if let Some(a) = &self.attention {
            x = a.forward(&x)?;
        }
        Ok(self.resnet1.forward(&x, None)?)
    }
}

/// GroupNorm, SiLU, 3×3 conv: the tail of encoder and decoder.
struct OutHead {
    norm: GroupNorm,
    conv: Conv2d,
}

impl OutHead {
    fn new(vb: &VarBuilder, in_ch: usize, out_ch: usize, groups: usize) -> Result<Self> {
        Ok(Self {
            norm: candle_nn::group_norm(groups, in_ch, EPS, vb.pp("conv_norm_out"))?,
            conv: conv2d(vb.pp("conv_out"), in_ch, out_ch, 3, 1, 1)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.conv.forward(&self.norm.forward(x)?.silu()?)?)
    }
}

struct DownLevel {
    resnets: Vec<ResnetBlock2D>,
    downsample: Option<Downsample2D>,
}

struct Encoder {
    conv_in: Conv2d,
    levels: Vec<DownLevel>,
    mid: MidBlock,
    head: OutHead,
}

impl Encoder {
    fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let g = cfg.norm_num_groups;
        let conv_in = conv2d(vb.pp("conv_in"), cfg.in_channels, ch[0], 3, 1, 1)?;
        let mut levels = Vec::with_capacity(ch.len());
        let mut prev = ch[0];
        for (i, &out) in ch.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i);
            let resnets = (0..cfg.layers_per_block)
                .map(|j| {
                    let in_ch = if j == 0 { prev } else { out };
                    ResnetBlock2D::new(vb.pp("resnets").pp(j), in_ch, out, None, g, EPS)
                })
                .collect::<candle_core::Result<_>>()?;
            let downsample = (i + 1 < ch.len())
                .then(|| Downsample2D::new(vb.pp("downsamplers.0"), out, 0))
                .transpose()?;
            levels.push(DownLevel {
                resnets,
                downsample,
            });
            prev = out;
        }
        let last = *ch.last().expect("validated non-empty");
        Ok(Self {
            conv_in,
            levels,
            mid: MidBlock::new(vb.pp("mid_block"), last, cfg)?,
            head: OutHead::new(&vb, last, 2 * cfg.latent_channels, g)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_in.forward(x)?;
        for level in &self.levels {
            for r in &level.resnets {
                x = r.forward(&x, None)?;
            }
            if let Some(d) = &level.downsample {
                x = d.forward(&x)?;
            }
        }
        let x = self.mid.forward(&x)?;
        self.head.forward(&x)
    }
}

struct UpLevel {
    resnets: Vec<ResnetBlock2D>,
    upsample: Option<Upsample2D>,
}

struct Decoder {
    conv_in: Conv2d,
    mid: MidBlock,
    levels: Vec<UpLevel>,
    head: OutHead,
}

impl Decoder {
    fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        let g = cfg.norm_num_groups;
        let rev: Vec<usize> = cfg.block_out_channels.iter().rev().copied().collect();
        let conv_in = conv2d(vb.pp("conv_in"), cfg.latent_channels, rev[0], 3, 1, 1)?;
        let mid = MidBlock::new(vb.pp("mid_block"), rev[0], cfg)?;
        let mut levels = Vec::with_capacity(rev.len());
        let mut prev = rev[0];
        for (i, &out) in rev.iter().enumerate() {
            let vb = vb.pp("up_blocks").pp(i);
            let resnets = (0..cfg.layers_per_block + 1)
                .map(|j| {
                    let in_ch = if j == 0 { prev } else { out };
                    ResnetBlock2D::new(vb.pp("resnets").pp(j), in_ch, out, None, g, EPS)
                })
                .collect::<candle_core::Result<_>>()?;
            let upsample = (i + 1 < rev.len())
                .then(|| Upsample2D::new(vb.pp("upsamplers.0"), out))
                .transpose()?;
            levels.push(UpLevel { resnets, upsample });
            prev = out;
        }
        let head = OutHead::new(&vb, prev, cfg.out_channels, g)?;
        Ok(Self {
            conv_in,
            mid,
            levels,
            head,
        })
    }

    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let x = self.conv_in.forward(z)?;
        let mut x = self.mid.forward(&x)?;
        for level in &self.levels {
            for r in &level.resnets {
                x = r.forward(&x, None)?;
            }
            if let Some(u) = &level.upsample {
                x = u.forward(&x)?;
            }
        }
        self.head.forward(&x)
    }
}

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
        Ok((&self.mean + std.broadcast_mul(noise)?)?)
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
        cfg.validate().map_err(|reason| Error::BadConfig {
            path: "vae/config.json".into(),
            reason,
        })?;
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
