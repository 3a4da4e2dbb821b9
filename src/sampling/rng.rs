//! Seeded Gaussian noise that reproduces PyTorch's CPU generator bit for bit.
//!
//! A seed shared from a diffusers/A1111 workflow ("seed 1234 with a CPU
//! generator") should give the same starting latents here, so
//! [`TorchCpuRng`] re-implements exactly what
//! `torch.randn(shape, generator=torch.Generator().manual_seed(seed))`
//! does on an x86-64 (AVX2) build of PyTorch:
//!
//! * the engine is `at::mt19937` (standard MT19937, 32-bit seed);
//! * float tensors with at least 16 elements take `normal_fill_AVX2`: every
//!   element is first filled with a uniform `(u32 & 0xFFFFFF) * 2^-24`, then
//!   blocks of 16 are turned into normals by Box–Muller over the pairs
//!   `(j, j + 8)`. If the size is not a multiple of 16 the last 16 values are
//!   redrawn with 16 fresh uniforms and converted again;
//! * that Box–Muller uses the Cephes-style polynomial `log256_ps` /
//!   `sincos256_ps` of `avx_mathfun.h` (not libm), compiled by GCC with FMA
//!   contraction, so the port below keeps the exact operation order and the
//!   same multiply-adds fused;
//! * tensors with fewer than 16 elements take the scalar path:
//!   `normal_distribution<double>` on 53-bit uniforms, which caches its second
//!   Box–Muller value *in the generator*, so it carries over between calls.
//!
//! diffusers pipelines running in float16 draw their noise *as float16*
//! (`randn_tensor(..., dtype=torch.float16)`), which consumes the generator
//! differently when the size is not a multiple of 16; [`RngKind::TorchCpuF16`]
//! reproduces that stream (values rounded to f16, returned as f32).

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, Tensor};

mod box_muller;
mod mt19937;

use box_muller::normal_fill_16;
use mt19937::Mt19937;

/// A stream of standard-normal `f32` samples. Successive calls continue the
/// same stream, like successive `torch.randn` calls on one generator.
pub trait NoiseSource: Send {
    /// The next `n` samples of the stream.
    fn randn(&mut self, n: usize) -> Vec<f32>;
}

/// Which noise generator a job uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum RngKind {
    /// Bit-exact PyTorch CPU generator (`torch.Generator("cpu")`), as used
    /// by diffusers with a CPU generator and by A1111's "CPU" RNG source.
    #[default]
    #[serde(rename = "torch-cpu")]
    TorchCpu,
    /// The same generator drawing `dtype=torch.float16` tensors, as diffusers
    /// does for fp16 pipelines given a CPU generator.
    #[serde(rename = "torch-cpu-f16")]
    TorchCpuF16,
}

impl RngKind {
    /// Every kind, for menus and CLI help.
    pub const ALL: &'static [RngKind] = &[RngKind::TorchCpu, RngKind::TorchCpuF16];

    /// The CLI / settings-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            RngKind::TorchCpu => "torch-cpu",
            RngKind::TorchCpuF16 => "torch-cpu-f16",
        }
    }
}

impl fmt::Display for RngKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RngKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "torch-cpu" | "torch" | "cpu" => Ok(RngKind::TorchCpu),
            "torch-cpu-f16" | "torch-f16" | "cpu-f16" => Ok(RngKind::TorchCpuF16),
            other => Err(format!(
                "unknown RNG '{other}' (expected: torch-cpu, torch-cpu-f16)"
            )),
        }
    }
}

/// A boxed noise source of the given kind, seeded.
pub fn noise_source(kind: RngKind, seed: u64) -> Box<dyn NoiseSource> {
    match kind {
        RngKind::TorchCpu => Box::new(TorchCpuRng::new(seed)),
        RngKind::TorchCpuF16 => Box::new(TorchCpuRng::new_f16(seed)),
    }
}

/// Draws `shape.iter().product()` samples from `src` as an f32 tensor on `device`.
pub fn randn_tensor(
    src: &mut dyn NoiseSource,
    shape: &[usize],
    device: &Device,
) -> candle_core::Result<Tensor> {
    let n = shape.iter().product();
    Tensor::from_vec(src.randn(n), shape, device)
}

// ---------------------------------------------------------------------------
// The torch CPU generator
// ---------------------------------------------------------------------------

/// Bit-exact replica of `torch.Generator("cpu").manual_seed(seed)` feeding
/// `torch.randn(..., dtype=torch.float32)` (x86-64 AVX2 kernels).
#[derive(Clone)]
pub struct TorchCpuRng {
    mt: Mt19937,
    /// `next_double_normal_sample_`: the spare Box–Muller value of the scalar
    /// path, kept by the generator across calls exactly like torch does.
    spare_normal: Option<f64>,
    /// Draw like `dtype=torch.float16` instead of float32.
    half: bool,
}

impl TorchCpuRng {
    /// A generator in the state `torch.Generator().manual_seed(seed)` leaves,
    /// drawing like `torch.randn(..., dtype=torch.float32)`.
    pub fn new(seed: u64) -> Self {
        TorchCpuRng {
            mt: Mt19937::new(seed),
            spare_normal: None,
            half: false,
        }
    }

    /// The same generator drawing like `torch.randn(..., dtype=torch.float16)`;
    /// the f16 values are returned widened to f32.
    pub fn new_f16(seed: u64) -> Self {
        TorchCpuRng {
            half: true,
            ..Self::new(seed)
        }
    }

    /// `at::normal_distribution<double>(0, 1)`, the path for < 16 elements.
    fn scalar_normal(&mut self) -> f64 {
        if let Some(v) = self.spare_normal.take() {
            return v;
        }
        let u1 = self.mt.uniform_f64();
        let u2 = self.mt.uniform_f64();
        let r = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u1;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }
}

impl NoiseSource for TorchCpuRng {
    fn randn(&mut self, n: usize) -> Vec<f32> {
        let out = if n < 16 {
            (0..n).map(|_| self.scalar_normal() as f32).collect()
        } else if self.half {
            self.fill_blockwise(n)
        } else {
            self.fill_uniforms_first(n)
        };
        if self.half {
            out.into_iter().map(round_to_f16).collect()
        } else {
            out
        }
    }
}

impl TorchCpuRng {
    /// float32 `normal_fill_AVX2`: all `n` uniforms first, blocks of 16
    /// converted in place, then the last 16 redrawn if `n % 16 != 0` (the
    /// `n % 16` uniforms drawn for the partial block are wasted).
    fn fill_uniforms_first(&mut self, n: usize) -> Vec<f32> {
        let mut data: Vec<f32> = (0..n).map(|_| self.mt.uniform_f32()).collect();
        for block in data.chunks_exact_mut(16) {
            normal_fill_16(block.try_into().expect("chunk of 16"));
        }
        if !n.is_multiple_of(16) {
            self.redraw_tail(&mut data);
        }
        data
    }

    /// The reduced-precision path: uniforms are drawn block by block, so only
    /// whole blocks consume the generator before the tail is redrawn.
    fn fill_blockwise(&mut self, n: usize) -> Vec<f32> {
        let mut data = vec![0.0f32; n];
        for block in data.chunks_exact_mut(16) {
            let block: &mut [f32; 16] = block.try_into().expect("chunk of 16");
            for v in block.iter_mut() {
                *v = self.mt.uniform_f32();
            }
            normal_fill_16(block);
        }
        if !n.is_multiple_of(16) {
            self.redraw_tail(&mut data);
        }
        data
    }

    /// torch's tail rule: 16 fresh uniforms converted as one block into the
    /// *last* 16 slots, overlapping the previous full block.
    fn redraw_tail(&mut self, data: &mut [f32]) {
        let n = data.len();
        let tail: &mut [f32; 16] = (&mut data[n - 16..]).try_into().expect("16 values");
        for v in tail.iter_mut() {
            *v = self.mt.uniform_f32();
        }
        normal_fill_16(tail);
    }
}

/// Rounds to the nearest float16 (ties to even), kept as f32: what
/// `static_cast<at::Half>(float)` stores. Out-of-range values become ±inf.
fn round_to_f16(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let a = (x as f64).abs();
    // Quantum of the f16 grid around `a`: 2^(e - 10) for normals (e >= -14),
    // the subnormal step 2^-24 below. Scaling by powers of two is exact in f64.
    let e = (((a.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(-14);
    let quantum = 2f64.powi(e - 10);
    let r = (a / quantum).round_ties_even() * quantum;
    let r = if r >= 65520.0 { f64::INFINITY } else { r };
    (r as f32).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_reference_sequence() {
        // std::mt19937 default seed 5489: the 10000th output is 4123659995.
        let mut mt = Mt19937::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = mt.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn successive_calls_continue_the_stream() {
        let mut a = TorchCpuRng::new(7);
        let mut b = TorchCpuRng::new(7);
        let first = a.randn(32);
        assert_eq!(first, b.randn(32));
        assert_ne!(first, a.randn(32));
    }

    #[test]
    fn f16_rounding() {
        assert_eq!(round_to_f16(1.0), 1.0);
        assert_eq!(round_to_f16(1.000_488_3), 1.0); // tie 1 + 2^-11 -> even
        assert_eq!(round_to_f16(1.000_488_4), 1.000_976_6);
        assert_eq!(round_to_f16(-2.0e-8), -0.0);
        assert_eq!(round_to_f16(3.0e-8), 5.960_464_5e-8); // nearest subnormal
        assert_eq!(round_to_f16(65519.0), 65504.0);
        assert_eq!(round_to_f16(65520.0), f32::INFINITY);
        assert_eq!(round_to_f16(-1.125_839_8), -1.125_976_6);
    }

    #[test]
    fn kind_round_trips() {
        for k in RngKind::ALL {
            assert_eq!(k.as_str().parse::<RngKind>().unwrap(), *k);
        }
        assert!("nope".parse::<RngKind>().is_err());
    }
}
