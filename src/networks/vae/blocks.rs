//! The VAE's encoder and decoder stacks and their mid-block attention.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::config::{VaeConfig, EPS};
use crate::networks::attention::attention;
use crate::networks::group_norm::{group_norm, GroupNorm};
use crate::networks::layers::{conv2d, Conv2d, Downsample2D, ResnetBlock2D, Upsample2D};
use crate::networks::linear::Linear;
use crate::networks::precision::param;
use candle_core::Result;

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
            Err(_) => return Err(e),
        },
    };
    let bias = param(&vb, ch, "bias")?;
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
            group_norm: group_norm(groups, ch, EPS, vb.pp("group_norm"))?,
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
        out + x
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
        self.resnet1.forward(&x, None)
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
            norm: group_norm(groups, in_ch, EPS, vb.pp("conv_norm_out"))?,
            conv: conv2d(vb.pp("conv_out"), in_ch, out_ch, 3, 1, 1)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(&self.norm.forward_silu(x)?)
    }
}

struct DownLevel {
    resnets: Vec<ResnetBlock2D>,
    downsample: Option<Downsample2D>,
}

pub(super) struct Encoder {
    conv_in: Conv2d,
    levels: Vec<DownLevel>,
    mid: MidBlock,
    head: OutHead,
}

impl Encoder {
    pub(super) fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
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

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
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

pub(super) struct Decoder {
    conv_in: Conv2d,
    mid: MidBlock,
    levels: Vec<UpLevel>,
    head: OutHead,
}

impl Decoder {
    pub(super) fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
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

    pub(super) fn forward(&self, z: &Tensor) -> Result<Tensor> {
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
