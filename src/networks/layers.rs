//! Convolutional building blocks shared by the VAE and the U-Net, with
//! diffusers' weight names.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::group_norm::{group_norm, GroupNorm};
use super::im2col::BandedConv;
use super::linear::{linear, Linear};
use super::precision::{param, with_weight};

/// Upper bound for the bytes of one band's im2col matrix in [`Conv2d`].
///
/// Kept well below glibc's largest mmap threshold (32 MiB) so the buffers
/// are recycled from the heap instead of being mapped and zero-faulted anew
/// for every band, and small enough to stay cache-friendly.
const IM2COL_BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// A square-kernel 2-D convolution with PyTorch's weight layout
/// (`weight: [out, in, k, k]`, `bias: [out]`).
///
/// Stride-1 convolutions are computed as im2col + one matrix product per band
/// of output rows, each band reading only the input rows it needs (its
/// "halo"), so the im2col matrix never exceeds `IM2COL_BUDGET_BYTES`. The
/// result is exactly a convolution over the whole image (no tiling seams);
/// only the order of work changes. This bounds memory on every back-end
/// (candle's CUDA conv materialises the full im2col, 2.4 GB for one VAE
/// layer at 512²) and on CPU is 1.2–1.8× faster than candle's kernel.
/// 1×1 convolutions are a single matrix product; strided ones (only the
/// downsamplers) use candle's conv.
#[derive(Debug, Clone)]
pub struct Conv2d {
    kernel: Kernel,
    bias: Option<Tensor>,
    k: usize,
    padding: usize,
    stride: usize,
}

/// The kernel in the one layout its forward path needs (never both: for the
/// U-Net that would double the weights' memory).
#[derive(Debug, Clone)]
enum Kernel {
    /// `[out, k·k·in]`, columns ordered (ky, kx, channel) like our im2col rows.
    Cols(Tensor),
    /// `[out, in, k, k]` for candle's strided conv.
    Native(Tensor),
}

/// Loads a convolution named like PyTorch's `nn.Conv2d` (`weight`, `bias`).
pub fn conv2d(
    vb: VarBuilder,
    in_ch: usize,
    out_ch: usize,
    k: usize,
    padding: usize,
    stride: usize,
) -> Result<Conv2d> {
    let weight = vb.get((out_ch, in_ch, k, k), "weight")?;
    let bias = param(&vb, out_ch, "bias")?;
    Conv2d::new(weight, Some(bias), padding, stride)
}

impl Conv2d {
    /// From tensors: `weight: [out, in, k, k]` (f16/bf16 kept as they are and
    /// widened per call), optional `bias: [out]` in the compute dtype.
    pub fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        padding: usize,
        stride: usize,
    ) -> Result<Self> {
        let (out_ch, in_ch, k, kw) = weight.dims4()?;
        if k != kw || stride == 0 {
            candle_core::bail!("only square kernels and non-zero strides are supported");
        }
        let kernel = if stride == 1 {
            Kernel::Cols(
                weight
                    .permute((0, 2, 3, 1))?
                    .reshape((out_ch, k * k * in_ch))?
                    .contiguous()?,
            )
        } else {
            Kernel::Native(weight)
        };
        Ok(Self {
            kernel,
            bias,
            k,
            padding,
            stride,
        })
    }

    /// Output rows per band so that one band's im2col fits the budget.
    fn band_rows(&self, in_ch: usize, out_w: usize, dtype_size: usize) -> usize {
        let row_bytes = self.k * self.k * in_ch * out_w * dtype_size;
        (IM2COL_BUDGET_BYTES / row_bytes.max(1)).max(1)
    }

    /// A stride-1 convolution: our CPU kernel for f32, candle ops elsewhere.
    fn forward_stride1(&self, x: &Tensor, weight_cols: &Tensor) -> Result<Tensor> {
        if !(x.device().is_cpu() && x.dtype() == DType::F32) {
            return self.forward_banded(x, weight_cols, None);
        }
        let (_, c, _, w) = x.dims4()?;
        let out_w = (w + 2 * self.padding + 1).saturating_sub(self.k);
        let bias = match &self.bias {
            Some(b) => b.clone(),
            None => Tensor::zeros(weight_cols.dim(0)?, DType::F32, x.device())?,
        };
        let op = BandedConv {
            k: self.k,
            padding: self.padding,
            band_rows: self.band_rows(c, out_w, 4),
        };
        x.contiguous()?
            .apply_op3_no_bwd(&weight_cols.contiguous()?, &bias, &op)
    }

    /// The portable path of [`Self::forward_stride1`], built from candle ops.
    fn forward_banded(
        &self,
        x: &Tensor,
        weight_cols: &Tensor,
        band: Option<usize>,
    ) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let (k, p) = (self.k, self.padding);
        let out_c = weight_cols.dim(0)?;
        if h + 2 * p < k || w + 2 * p < k {
            candle_core::bail!("conv2d input {h}×{w} is smaller than the kernel");
        }
        let (out_h, out_w) = (h + 2 * p - k + 1, w + 2 * p - k + 1);
        let band = band.unwrap_or_else(|| self.band_rows(c, out_w, x.dtype().size_in_bytes()));
        let mut images = Vec::with_capacity(b);
        for i in 0..b {
            let xi = x.get(i)?;
            let out = Tensor::zeros((out_c, out_h, out_w), x.dtype(), x.device())?;
            let mut r0 = 0;
            while r0 < out_h {
                let rows = band.min(out_h - r0);
                // Padded-input rows r0 .. r0+rows+k-1, i.e. unpadded rows shifted by p.
                let lo = r0 as isize - p as isize;
                let hi = (r0 + rows + k - 1) as isize - p as isize;
                let (a, z) = (lo.max(0) as usize, (hi.min(h as isize)) as usize);
                let top = (a as isize - lo) as usize;
                let bottom = (hi - z as isize) as usize;
                // Contiguous first: padding a strided view falls back to an
                // element-by-element copy in candle.
                let slab = xi
                    .narrow(1, a, z - a)?
                    .contiguous()?
                    .pad_with_zeros(1, top, bottom)?
                    .pad_with_zeros(2, p, p)?;
                let mut shifts = Vec::with_capacity(k * k);
                for ky in 0..k {
                    for kx in 0..k {
                        shifts.push(slab.narrow(1, ky, rows)?.narrow(2, kx, out_w)?);
                    }
                }
                // [k·k·c, rows·out_w], rows ordered (ky, kx, channel).
                let cols = Tensor::cat(&shifts, 0)?.reshape((k * k * c, rows * out_w))?;
                drop(shifts);
                let mut y = weight_cols.matmul(&cols)?;
                // Bias per band: adding it to the whole output would cost
                // another full-size tensor.
                if let Some(bias) = &self.bias {
                    y = y.broadcast_add(&bias.reshape((out_c, 1))?)?;
                }
                out.slice_set(&y.reshape((out_c, rows, out_w))?, 1, r0)?;
                r0 += rows;
            }
            images.push(out);
        }
        if b == 1 {
            return images.pop().expect("one image").unsqueeze(0);
        }
        Tensor::stack(&images, 0)
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.kernel {
            Kernel::Native(weight) => with_weight(weight, x.dtype(), |w| {
                x.conv2d(w, self.padding, self.stride, 1, 1)
            })?,
            Kernel::Cols(weight) if self.k == 1 && self.padding == 0 => {
                // A 1×1 convolution is one matrix product over all pixels.
                let (b, c, h, w) = x.dims4()?;
                let x = x.reshape((b, c, h * w))?;
                let y = with_weight(weight, x.dtype(), |w| w.broadcast_left(b)?.matmul(&x))?;
                y.reshape((b, (), h, w))?
            }
            Kernel::Cols(weight) => {
                return with_weight(weight, x.dtype(), |w| self.forward_stride1(x, w))
            }
        };
        match &self.bias {
            Some(bias) => y.broadcast_add(&bias.reshape((1, (), 1, 1))?),
            None => Ok(y),
        }
    }
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
            .map(|t| linear(t, out_ch, vb.pp("time_emb_proj")))
            .transpose()?;
        // A checkpoint may carry a shortcut even at equal widths.
        let conv_shortcut = (in_ch != out_ch || vb.contains_tensor("conv_shortcut.weight"))
            .then(|| conv2d(vb.pp("conv_shortcut"), in_ch, out_ch, 1, 0, 1))
            .transpose()?;
        Ok(Self {
            norm1: group_norm(groups, in_ch, eps, vb.pp("norm1"))?,
            conv1: conv2d(vb.pp("conv1"), in_ch, out_ch, 3, 1, 1)?,
            time_emb_proj,
            norm2: group_norm(groups, out_ch, eps, vb.pp("norm2"))?,
            conv2: conv2d(vb.pp("conv2"), out_ch, out_ch, 3, 1, 1)?,
            conv_shortcut,
        })
    }

    /// `x: [b, in_ch, h, w]`, `temb: [b, temb_ch]` (ignored without `time_emb_proj`).
    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward_silu(x)?)?;
        let h = match (&self.time_emb_proj, temb) {
            (Some(proj), Some(t)) => {
                let t = proj.forward(&t.silu()?)?.unsqueeze(2)?.unsqueeze(3)?;
                h.broadcast_add(&t)?
            }
            _ => h,
        };
        let h = self.conv2.forward(&self.norm2.forward_silu(&h)?)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn strided_conv_equals_candle_conv() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (1, 4, 9, 8), &dev).unwrap();
        let w = Tensor::randn(0f32, 1., (6, 4, 3, 3), &dev).unwrap();
        let expected = x.conv2d(&w, 1, 2, 1, 1).unwrap();
        let got = Conv2d::new(w, None, 1, 2).unwrap().forward(&x).unwrap();
        assert_eq!(crate::testing::max_abs_diff(&got, &expected), 0.0);
    }

    #[test]
    fn banded_conv_equals_candle_conv() {
        let dev = Device::Cpu;
        for (k, p) in [(3, 1), (1, 0), (3, 0), (5, 2)] {
            let x = Tensor::randn(0f32, 1., (2, 5, 11, 9), &dev).unwrap();
            let w = Tensor::randn(0f32, 1., (7, 5, k, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1., 7, &dev).unwrap();
            let expected = x
                .conv2d(&w, p, 1, 1, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 7, 1, 1)).unwrap())
                .unwrap();
            let conv = Conv2d::new(w, Some(b), p, 1).unwrap();
            let Kernel::Cols(cols) = &conv.kernel else {
                panic!("stride 1 uses the banded path")
            };
            let got = conv.forward(&x).unwrap();
            assert!(
                crate::testing::max_abs_diff(&got, &expected) < 1e-4,
                "k {k} p {p} forward"
            );
            for band in [1, 2, 3, 4, 100] {
                let got = conv.forward_banded(&x, cols, Some(band)).unwrap();
                assert_eq!(got.dims(), expected.dims());
                let d = crate::testing::max_abs_diff(&got, &expected);
                assert!(d < 1e-4, "k {k} p {p} band {band}: {d}");
                // The CPU kernel does the same arithmetic: identical bits.
                let op = BandedConv {
                    k,
                    padding: p,
                    band_rows: band,
                };
                let fast = x
                    .apply_op3_no_bwd(cols, conv.bias.as_ref().unwrap(), &op)
                    .unwrap();
                assert_eq!(
                    crate::testing::max_abs_diff(&fast, &got),
                    0.0,
                    "k {k} p {p} band {band}: kernel vs portable path"
                );
            }
        }
    }
}
