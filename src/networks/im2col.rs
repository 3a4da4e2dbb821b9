//! Stride-1 convolution on the CPU: im2col in bands of output rows, one GEMM
//! per band written straight into the output.
//!
//! The same arithmetic as [`super::layers::Conv2d`]'s portable path (band by
//! band, the same GEMM shapes, the bias added after), so the results are
//! identical; what changes is the copying around it. There, each band was
//! built by candle ops on one thread (a contiguous slab, two zero paddings,
//! nine shifted views concatenated), then the GEMM wrote a fresh tensor, the
//! bias made another, and the band was copied into the output and the images
//! stacked: seven copies of every value, most of them serial. Here the
//! im2col rows are written once, in parallel, into one buffer reused by every
//! band, and the GEMM writes its output in place.

use candle_core::{CpuStorage, Layout, Result, Shape};
use gemm::Parallelism;
use rayon::prelude::*;

use super::f32_values;

/// A stride-1 `k×k` convolution with zero padding `padding`, as a candle op
/// on `x: [b, c, h, w]`, `weight_cols: [out, k·k·c]` (columns ordered
/// `(ky, kx, channel)`) and `bias: [out]`, all f32.
pub struct BandedConv {
    /// Kernel size.
    pub k: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Output rows per band (bounds the im2col buffer).
    pub band_rows: usize,
}

impl candle_core::CustomOp3 for BandedConv {
    fn name(&self) -> &'static str {
        "banded-conv2d"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        bias: &CpuStorage,
        bias_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_values("conv input", x, x_l)?;
        let w = f32_values("conv weight", w, w_l)?;
        let bias = f32_values("conv bias", bias, bias_l)?;
        let (b, c, h, wd) = x_l.shape().dims4()?;
        let (oc, kkc) = w_l.shape().dims2()?;
        let (k, p) = (self.k, self.padding);
        if kkc != k * k * c || bias.len() != oc {
            candle_core::bail!(
                "banded conv: weight [{oc}, {kkc}] or bias does not fit {c} channels and k {k}"
            );
        }
        if h + 2 * p < k || wd + 2 * p < k {
            candle_core::bail!("conv2d input {h}×{wd} is smaller than the kernel");
        }
        let (oh, ow) = (h + 2 * p - k + 1, wd + 2 * p - k + 1);
        let band = self.band_rows.clamp(1, oh);
        let mut out = vec![0f32; b * oc * oh * ow];
        let mut cols = vec![0f32; kkc * band * ow];
        let threads = rayon::current_num_threads();
        for (xi, oi) in x
            .chunks_exact(c * h * wd)
            .zip(out.chunks_exact_mut(oc * oh * ow))
        {
            let mut r0 = 0;
            while r0 < oh {
                let rows = band.min(oh - r0);
                let n = rows * ow;
                let cols = &mut cols[..kkc * n];
                cols.par_chunks_mut(n).enumerate().for_each(|(t, dst)| {
                    let (tap, ch) = (t / c, t % c);
                    let (ky, kx) = (tap / k, tap % k);
                    let plane = &xi[ch * h * wd..(ch + 1) * h * wd];
                    // Output columns whose input column lies inside the image.
                    let lo = p.saturating_sub(kx).min(ow);
                    let hi = (wd + p).saturating_sub(kx).clamp(lo, ow);
                    for (r, drow) in dst.chunks_exact_mut(ow).enumerate() {
                        let iy = (r0 + r + ky) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            drow.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * wd..(iy as usize + 1) * wd];
                        drow[..lo].fill(0.0);
                        drow[lo..hi].copy_from_slice(&src[lo + kx - p..hi + kx - p]);
                        drow[hi..].fill(0.0);
                    }
                });
                let dst = &mut oi[r0 * ow..];
                // SAFETY: `dst` holds `oc` rows of stride `oh·ow` with `n`
                // values each from its start (r0·ow + n ≤ oh·ow); `w` is
                // `oc × kkc` and `cols` is `kkc × n`, both row-major.
                unsafe {
                    gemm::gemm(
                        oc,
                        n,
                        kkc,
                        dst.as_mut_ptr(),
                        1,
                        (oh * ow) as isize,
                        false,
                        w.as_ptr(),
                        1,
                        kkc as isize,
                        cols.as_ptr(),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::Rayon(threads),
                    );
                }
                // The bias after the product, as the portable path adds it.
                dst.par_chunks_mut(oh * ow)
                    .zip(bias)
                    .for_each(|(row, &bv)| row[..n].iter_mut().for_each(|v| *v += bv));
                r0 += rows;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, oc, oh, ow))))
    }
}
