//! diffusers' `ResnetBlock2D`, `Downsample2D` and `Upsample2D` for the U-Net.

use candle_core::{Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, Linear, Module, VarBuilder};

/// Two group-norm/SiLU/3×3-conv stages with an optional timestep injection
/// and a 1×1 shortcut when the channel count changes.
#[derive(Debug)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    output_scale: f64,
}

/// Shape parameters of a [`ResnetBlock2D`].
#[derive(Debug, Clone, Copy)]
pub struct ResnetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Width of the timestep embedding, when the block receives one.
    pub temb_channels: Option<usize>,
    /// Group-norm groups.
    pub groups: usize,
    /// Group-norm epsilon.
    pub eps: f64,
    /// The output is divided by this (the mid block's `mid_block_scale_factor`).
    pub output_scale: f64,
}

fn conv3x3(vb: VarBuilder, i: usize, o: usize) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    candle_nn::conv2d(i, o, 3, cfg, vb)
}

impl ResnetBlock2D {
    /// Build from diffusers' key names (norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut).
    pub fn new(vb: VarBuilder, c: ResnetConfig) -> Result<Self> {
        let conv_shortcut = if c.in_channels != c.out_channels {
            Some(candle_nn::conv2d(
                c.in_channels,
                c.out_channels,
                1,
                Default::default(),
                vb.pp("conv_shortcut"),
            )?)
        } else {
            None
        };
        Ok(Self {
            norm1: candle_nn::group_norm(c.groups, c.in_channels, c.eps, vb.pp("norm1"))?,
            conv1: conv3x3(vb.pp("conv1"), c.in_channels, c.out_channels)?,
            time_emb_proj: c
                .temb_channels
                .map(|t| candle_nn::linear(t, c.out_channels, vb.pp("time_emb_proj")))
                .transpose()?,
            norm2: candle_nn::group_norm(c.groups, c.out_channels, c.eps, vb.pp("norm2"))?,
            conv2: conv3x3(vb.pp("conv2"), c.out_channels, c.out_channels)?,
            conv_shortcut,
            output_scale: c.output_scale,
        })
    }

    /// Apply the block; `temb` is the already-activated-by-caller timestep embedding `[b, t]`.
    pub fn forward(&self, xs: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let h = candle_nn::ops::silu(&self.norm1.forward(xs)?)?;
        let mut h = self.conv1.forward(&h)?;
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            let t = proj.forward(&candle_nn::ops::silu(temb)?)?;
            h = h.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?;
        }
        let h = candle_nn::ops::silu(&self.norm2.forward(&h)?)?;
        let h = self.conv2.forward(&h)?;
        let shortcut = match &self.conv_shortcut {
            Some(c) => c.forward(xs)?,
            None => xs.clone(),
        };
        let out = (shortcut + h)?;
        if self.output_scale == 1.0 {
            Ok(out)
        } else {
            out / self.output_scale
        }
    }
}

/// Stride-2 3×3 convolution (key `conv`).
#[derive(Debug)]
pub struct Downsample2D {
    conv: Conv2d,
    pad_right_bottom: bool,
}

impl Downsample2D {
    /// `padding` 1 (SD) pads symmetrically; 0 pads only right/bottom like diffusers.
    pub fn new(vb: VarBuilder, channels: usize, padding: usize) -> Result<Self> {
        let cfg = Conv2dConfig {
            stride: 2,
            padding,
            ..Default::default()
        };
        Ok(Self {
            conv: candle_nn::conv2d(channels, channels, 3, cfg, vb.pp("conv"))?,
            pad_right_bottom: padding == 0,
        })
    }

    /// Halve the spatial size.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.pad_right_bottom {
            let xs = xs.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?;
            self.conv.forward(&xs)
        } else {
            self.conv.forward(xs)
        }
    }
}

/// Nearest-neighbour upsampling followed by a 3×3 convolution (key `conv`).
#[derive(Debug)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    /// Build for `channels` in and out.
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv3x3(vb.pp("conv"), channels, channels)?,
        })
    }

    /// Upsample to exactly `(h, w)`: twice the size normally, the skip
    /// connection's size when the latent was not divisible by the U-Net's stride.
    pub fn forward(&self, xs: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        self.conv.forward(&xs.upsample_nearest2d(h, w)?)
    }
}
