//! GroupNorm, optionally followed by SiLU, in two parallel passes.
//!
//! candle's `GroupNorm` is two single-threaded reductions and six passes that
//! each allocate a full-size tensor (subtract the mean, square, divide,
//! scale, shift), and SiLU is one more; in the VAE decoder at 512² those are
//! 128–512 MiB each, several alive at once. Here each (image, group) block,
//! contiguous in NCHW, is one parallel task: its statistics in f64, then the
//! normalised, scaled (and SiLU-activated) values written once to the output.

use candle_core::{CpuStorage, DType, Layout, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::f32_values;
use super::precision::param;

/// PyTorch's `nn.GroupNorm` with an affine `weight` and `bias` per channel.
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

/// Loads `weight` and `bias` (in the compute dtype) of a GroupNorm.
pub fn group_norm(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<GroupNorm> {
    if groups == 0 || !channels.is_multiple_of(groups) {
        candle_core::bail!("group norm: {channels} channels do not split into {groups} groups");
    }
    Ok(GroupNorm {
        weight: param(&vb, channels, "weight")?,
        bias: param(&vb, channels, "bias")?,
        groups,
        eps,
    })
}

impl GroupNorm {
    /// Normalise `x: [b, c, …]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.apply(x, false)
    }

    /// `silu(group_norm(x))`, the pre-activation of every resnet block.
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        self.apply(x, true)
    }

    fn apply(&self, x: &Tensor, silu: bool) -> Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 {
            let op = GroupNormOp {
                groups: self.groups,
                eps: self.eps,
                silu,
            };
            return x
                .contiguous()?
                .apply_op3_no_bwd(&self.weight, &self.bias, &op);
        }
        let channels = self.weight.dim(0)?;
        let y = candle_nn::GroupNorm::new(
            self.weight.clone(),
            self.bias.clone(),
            channels,
            self.groups,
            self.eps,
        )?;
        let y = candle_core::Module::forward(&y, x)?;
        if silu {
            y.silu()
        } else {
            Ok(y)
        }
    }
}

struct GroupNormOp {
    groups: usize,
    eps: f64,
    silu: bool,
}

impl candle_core::CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        "group-norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_values("group norm input", x, x_l)?;
        let w = f32_values("group norm weight", w, w_l)?;
        let b = f32_values("group norm bias", b, b_l)?;
        let dims = x_l.shape().dims();
        if dims.len() < 2 || dims[1] != w.len() || w.len() != b.len() {
            candle_core::bail!(
                "group norm: input {dims:?} does not match {} channels",
                w.len()
            );
        }
        let channels = dims[1];
        let per_channel: usize = dims[2..].iter().product();
        let per_group = channels / self.groups * per_channel;
        let mut out = vec![0f32; x.len()];
        if per_group == 0 {
            return Ok((CpuStorage::F32(out), x_l.shape().clone()));
        }
        out.par_chunks_mut(per_group)
            .zip(x.par_chunks(per_group))
            .enumerate()
            .for_each(|(block, (dst, src))| {
                let n = src.len() as f64;
                let mean = src.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = src.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                let inv = 1.0 / (var + self.eps).sqrt();
                let first_channel = block % self.groups * (channels / self.groups);
                for (i, (d, s)) in dst
                    .chunks_mut(per_channel)
                    .zip(src.chunks(per_channel))
                    .enumerate()
                {
                    let c = first_channel + i;
                    // (x − mean)·(inv·w) + b, subtracting first: folding the
                    // mean into the shift cancels badly when a group is
                    // nearly constant (tiny variance, huge inv).
                    let scale = (inv * w[c] as f64) as f32;
                    let (mean, shift) = (mean as f32, b[c]);
                    if self.silu {
                        write_scaled_silu(d, s, mean, scale, shift);
                    } else {
                        d.iter_mut()
                            .zip(s)
                            .for_each(|(d, &s)| *d = (s - mean).mul_add(scale, shift));
                    }
                }
            });
        Ok((CpuStorage::F32(out), x_l.shape().clone()))
    }
}

/// `dst = silu((src − mean)·scale + shift)`.
fn write_scaled_silu(dst: &mut [f32], src: &[f32], mean: f32, scale: f32, shift: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { write_scaled_silu_avx2(dst, src, mean, scale, shift) };
            return;
        }
    }
    write_scaled_silu_generic(dst, src, mean, scale, shift);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn write_scaled_silu_avx2(dst: &mut [f32], src: &[f32], mean: f32, scale: f32, shift: f32) {
    write_scaled_silu_generic(dst, src, mean, scale, shift)
}

/// A loop the compiler vectorises: `silu(y) = y / (1 + e^−y)`.
#[inline(always)]
fn write_scaled_silu_generic(dst: &mut [f32], src: &[f32], mean: f32, scale: f32, shift: f32) {
    for (d, &s) in dst.iter_mut().zip(src) {
        let y = (s - mean).mul_add(scale, shift);
        *d = y / (1.0 + super::softmax::exp_approx(-y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn reference(x: &Tensor, g: &GroupNorm, silu: bool) -> Tensor {
        let c = g.weight.dim(0).unwrap();
        let n = candle_nn::GroupNorm::new(g.weight.clone(), g.bias.clone(), c, g.groups, g.eps)
            .unwrap();
        let y = candle_core::Module::forward(&n, x).unwrap();
        if silu {
            y.silu().unwrap()
        } else {
            y
        }
    }

    #[test]
    fn matches_candle_group_norm_and_silu() {
        let dev = Device::Cpu;
        for (shape, groups) in [((2, 64, 9, 7), 32), ((1, 6, 5, 5), 3), ((3, 8, 1, 1), 8)] {
            let x = (Tensor::randn(0f32, 1., shape, &dev).unwrap() * 3.0)
                .unwrap()
                .affine(1.0, 1.5)
                .unwrap();
            let c = shape.1;
            let g = GroupNorm {
                weight: Tensor::randn(1f32, 0.2, c, &dev).unwrap(),
                bias: Tensor::randn(0f32, 0.2, c, &dev).unwrap(),
                groups,
                eps: 1e-6,
            };
            for silu in [false, true] {
                let got = g.apply(&x, silu).unwrap();
                let want = reference(&x, &g, silu);
                let d = crate::testing::max_abs_diff(&got, &want);
                assert!(d < 2e-5, "{shape:?} silu {silu}: {d}");
            }
        }
    }

    #[test]
    fn silu_is_accurate_far_out() {
        let x = [
            -1e30f32, -200.0, -90.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 90.0, 1e30,
        ];
        let mut out = [0f32; 10];
        // Scale 1, shift 0: the activation alone.
        write_scaled_silu(&mut out, &x, 0.0, 1.0, 0.0);
        for (o, x) in out.iter().zip(&x) {
            let want = (*x as f64) / (1.0 + (-*x as f64).exp());
            let tol = 1e-6 * want.abs().max(1.0);
            assert!(
                (*o as f64 - want).abs() <= tol,
                "silu({x}) = {o}, want {want}"
            );
        }
    }
}
