//! Convolutional building blocks shared by the VAE and the U-Net, with
//! diffusers' weight names.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, Linear, VarBuilder};

/// A 3×3 (or any square `k`) convolution with diffusers' default bias.
pub fn conv2d(
    vb: VarBuilder,
    in_ch: usize,
    out_ch: usize,
    k: usize,
    padding: usize,
    stride: usize,
) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding,
        stride,
        ..Default::default()
    };
    candle_nn::conv2d(in_ch, out_ch, k, cfg, vb)
}

/// diffusers' `ResnetBlock2D` (pre-norm, SiLU, "default" time-embedding
/// norm, output scale 1): `norm1`, `conv1`, optional `time_emb_proj`,
/// `norm2`, `conv2`, and `conv_shortcut` when the channel count changes.
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock2D {
    /// `temb_ch` is the time-embedding width (U-Net) or `None` (VAE);
    /// `groups`/`eps` are the GroupNorm settings (32 and 1e-6 in the VAE,
    /// 32 and 1e-5 in the SD U-Net).
    pub fn new(
        vb: VarBuilder,
        in_ch: usize,
        out_ch: usize,
        temb_ch: Option<usize>,
        groups: usize,
        eps: f64,
    ) -> Result<Self> {
        let time_emb_proj = temb_ch
            .map(|t| candle_nn::linear(t, out_ch, vb.pp("time_emb_proj")))
            .transpose()?;
        // A checkpoint may carry a shortcut even at equal widths.
        let conv_shortcut = (in_ch != out_ch || vb.contains_tensor("conv_shortcut.weight"))
            .then(|| conv2d(vb.pp("conv_shortcut"), in_ch, out_ch, 1, 0, 1))
            .transpose()?;
        Ok(Self {
            norm1: candle_nn::group_norm(groups, in_ch, eps, vb.pp("norm1"))?,
            conv1: conv2d(vb.pp("conv1"), in_ch, out_ch, 3, 1, 1)?,
            time_emb_proj,
            norm2: candle_nn::group_norm(groups, out_ch, eps, vb.pp("norm2"))?,
            conv2: conv2d(vb.pp("conv2"), out_ch, out_ch, 3, 1, 1)?,
            conv_shortcut,
        })
    }

    /// `x: [b, in_ch, h, w]`, `temb: [b, temb_ch]` (ignored without `time_emb_proj`).
    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward(x)?.silu()?)?;
        let h = match (&self.time_emb_proj, temb) {
            (Some(proj), Some(t)) => {
                let t = proj.forward(&t.silu()?)?.unsqueeze(2)?.unsqueeze(3)?;
                h.broadcast_add(&t)?
            }
            _ => h,
        };
        let h = self.conv2.forward(&self.norm2.forward(&h)?.silu()?)?;
        match &self.conv_shortcut {
            Some(c) => c.forward(x)? + h,
            None => x + h,
        }
    }
}

/// diffusers' `Downsample2D` with a convolution (`conv`, stride 2).
pub struct Downsample2D {
    conv: Conv2d,
    asymmetric_pad: bool,
}

impl Downsample2D {
    /// `padding` 1 (U-Net) pads symmetrically; 0 (VAE encoder) pads one
    /// row/column at the bottom/right only, as diffusers does.
    pub fn new(vb: VarBuilder, ch: usize, padding: usize) -> Result<Self> {
        Ok(Self {
            conv: conv2d(vb.pp("conv"), ch, ch, 3, padding, 2)?,
            asymmetric_pad: padding == 0,
        })
    }

    /// Halves height and width.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.asymmetric_pad {
            let x = x.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?;
            self.conv.forward(&x)
        } else {
            self.conv.forward(x)
        }
    }
}

/// diffusers' `Upsample2D` with a convolution: nearest ×2, then `conv` 3×3.
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    /// `ch` channels in and out.
    pub fn new(vb: VarBuilder, ch: usize) -> Result<Self> {
        Ok(Self {
            conv: conv2d(vb.pp("conv"), ch, ch, 3, 1, 1)?,
        })
    }

    /// Doubles height and width.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        self.forward_to(x, 2 * h, 2 * w)
    }

    /// Upsamples to an explicit size (the U-Net's skip connections need this
    /// when a size was odd on the way down).
    pub fn forward_to(&self, x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        self.conv.forward(&x.upsample_nearest2d(h, w)?)
    }
}
