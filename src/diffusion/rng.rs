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

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, Tensor};

/// A stream of standard-normal `f32` samples. Successive calls continue the
/// same stream, like successive `torch.randn` calls on one generator.
pub trait NoiseSource: Send {
    /// The next `n` samples of the stream.
    fn randn(&mut self, n: usize) -> Vec<f32>;
}

/// Which noise generator a job uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RngKind {
    /// Bit-exact PyTorch CPU generator (`torch.Generator("cpu")`), as used
    /// by diffusers with a CPU generator and by A1111's "CPU" RNG source.
    #[default]
    TorchCpu,
}

impl RngKind {
    /// Every kind, for menus and CLI help.
    pub const ALL: &'static [RngKind] = &[RngKind::TorchCpu];

    /// The CLI / settings-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            RngKind::TorchCpu => "torch-cpu",
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
            other => Err(format!("unknown RNG '{other}' (expected: torch-cpu)")),
        }
    }
}

/// A boxed noise source of the given kind, seeded.
pub fn noise_source(kind: RngKind, seed: u64) -> Box<dyn NoiseSource> {
    match kind {
        RngKind::TorchCpu => Box::new(TorchCpuRng::new(seed)),
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
// MT19937 (at::mt19937)
// ---------------------------------------------------------------------------

const MT_N: usize = 624;
const MT_M: usize = 397;

/// Standard 32-bit Mersenne Twister, seeded like `at::mt19937` (low 32 bits).
#[derive(Clone)]
struct Mt19937 {
    state: Box<[u32; MT_N]>,
    /// Index of the next word to temper; `MT_N` means "regenerate first".
    next: usize,
}

impl Mt19937 {
    fn new(seed: u64) -> Self {
        let mut state = Box::new([0u32; MT_N]);
        // torch keeps the full u64 as "the seed" but only its low word seeds the engine.
        state[0] = seed as u32;
        for j in 1..MT_N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        Mt19937 { state, next: MT_N }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        let s = &mut self.state;
        for i in 0..MT_N {
            let y = (s[i] & UPPER) | (s[(i + 1) % MT_N] & LOWER);
            let mag = if y & 1 != 0 { 0x9908_b0df } else { 0 };
            s[i] = s[(i + MT_M) % MT_N] ^ (y >> 1) ^ mag;
        }
        self.next = 0;
    }

    /// `CPUGeneratorImpl::random()`: one tempered 32-bit word.
    #[inline]
    fn next_u32(&mut self) -> u32 {
        if self.next >= MT_N {
            self.regenerate();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `CPUGeneratorImpl::random64()`: first word is the high half.
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// `uniform_real_distribution<float>(0, 1)`: 24 random bits, exact in f32.
    #[inline]
    fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// `uniform_real_distribution<double>(0, 1)`: 53 random bits of a 64-bit draw.
    #[inline]
    fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
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
}

impl TorchCpuRng {
    /// A generator in the state `torch.Generator().manual_seed(seed)` leaves.
    pub fn new(seed: u64) -> Self {
        TorchCpuRng {
            mt: Mt19937::new(seed),
            spare_normal: None,
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
        if n < 16 {
            return (0..n).map(|_| self.scalar_normal() as f32).collect();
        }
        let mut data: Vec<f32> = (0..n).map(|_| self.mt.uniform_f32()).collect();
        for block in data.chunks_exact_mut(16) {
            normal_fill_16(block.try_into().expect("chunk of 16"));
        }
        if n % 16 != 0 {
            // torch redraws the whole last block of 16 (overlapping the
            // previous one) rather than converting a partial block.
            let tail: &mut [f32; 16] = (&mut data[n - 16..]).try_into().expect("16 values");
            for v in tail.iter_mut() {
                *v = self.mt.uniform_f32();
            }
            normal_fill_16(tail);
        }
        data
    }
}

/// `normal_fill_16_AVX2` for mean 0 / std 1, one lane at a time.
fn normal_fill_16(data: &mut [f32; 16]) {
    // _mm256_set1_ps(2.0f * c10::pi<double>): computed in double, rounded once.
    let two_pi = (2.0 * std::f64::consts::PI) as f32;
    for j in 0..8 {
        let u1 = 1.0 - data[j];
        let u2 = data[j + 8];
        let radius = (-2.0 * log_ps(u1)).sqrt();
        let (sin, cos) = sincos_ps(two_pi * u2);
        // The kernel ends with fmadd(n, std, mean) = n*1 + 0, which turns -0 into +0.
        data[j] = radius * cos + 0.0;
        data[j + 8] = radius * sin + 0.0;
    }
}

// Constants of avx_mathfun.h, written as the same decimal literals and
// rounded to f32 the way the C source does (hence the "excessive" digits).
const LOG_P: [f32; 9] = [
    7.0376836292E-2_f64 as f32,
    -1.1514610310E-1_f64 as f32,
    1.1676998740E-1_f64 as f32,
    -1.2420140846E-1_f64 as f32,
    1.4249322787E-1_f64 as f32,
    -1.6668057665E-1_f64 as f32,
    2.0000714765E-1_f64 as f32,
    -2.4999993993E-1_f64 as f32,
    3.3333331174E-1_f64 as f32,
];
const LOG_Q1: f32 = -2.12194440e-4_f64 as f32;
#[allow(clippy::excessive_precision)]
const LOG_Q2: f32 = 0.693359375;
const SQRTHF: f32 = std::f64::consts::FRAC_1_SQRT_2 as f32;
const MINUS_DP1: f32 = -0.78515625;
#[allow(clippy::excessive_precision)]
const MINUS_DP2: f32 = -2.4187564849853515625e-4_f64 as f32;
#[allow(clippy::excessive_precision)]
const MINUS_DP3: f32 = -3.77489497744594108e-8_f64 as f32;
const SINCOF: [f32; 3] = [
    -1.9515295891E-4_f64 as f32,
    8.3321608736E-3_f64 as f32,
    -1.6666654611E-1_f64 as f32,
];
const COSCOF: [f32; 3] = [
    2.443315711809948E-005_f64 as f32,
    -1.388731625493765E-003_f64 as f32,
    4.166664568298827E-002_f64 as f32,
];
const FOPI: f32 = 1.27323954473516_f64 as f32; // 4 / pi

/// One lane of `log256_ps`. The `mul_add`s are where GCC contracts
/// `_mm256_add_ps(_mm256_mul_ps(..), ..)` into an FMA; the order matters.
fn log_ps(x: f32) -> f32 {
    if x <= 0.0 {
        // The kernel ORs an all-ones mask in: NaN. Unreachable for u1 in (0, 1].
        return f32::NAN;
    }
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 0x7f) as f32 + 1.0;
    // Mantissa with exponent forced to 2^-1: x in [0.5, 1).
    let mut x = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
    let small = x < SQRTHF;
    let tmp = if small { x } else { 0.0 };
    x -= 1.0;
    e -= if small { 1.0 } else { 0.0 };
    x += tmp;

    let z = x * x;
    let mut y = LOG_P[0];
    for &p in &LOG_P[1..] {
        y = y.mul_add(x, p);
    }
    y *= x;
    // add(mul(y, z), mul(e, q1)): GCC fuses the first product.
    y = y.mul_add(z, e * LOG_Q1);
    // sub(y, mul(z, 0.5)) -> fnmadd(z, 0.5, y)
    y = (-z).mul_add(0.5, y);
    // add(add(x, y), mul(e, q2)) -> fma(e, q2, x + y)
    e.mul_add(LOG_Q2, x + y)
}

/// One lane of `sincos256_ps`; returns `(sin, cos)`.
fn sincos_ps(x: f32) -> (f32, f32) {
    let sign_in = x.to_bits() & 0x8000_0000;
    let mut x = x.abs();
    // cvttps: truncation toward zero; then j = (j + 1) & !1 as in Cephes.
    let mut j = (x * FOPI) as i32;
    j = (j + 1) & !1;
    let y = j as f32;

    let sign_sin = sign_in ^ (((j & 4) as u32) << 29);
    let sign_cos = ((!(j - 2) & 4) as u32) << 29;
    let use_sin_poly_for_sin = (j & 2) == 0;

    // Extended-precision range reduction, each step one FMA.
    x = y.mul_add(MINUS_DP1, x);
    x = y.mul_add(MINUS_DP2, x);
    x = y.mul_add(MINUS_DP3, x);

    let z = x * x;
    let mut yc = COSCOF[0].mul_add(z, COSCOF[1]);
    yc = yc.mul_add(z, COSCOF[2]);
    yc *= z;
    yc = yc.mul_add(z, -(z * 0.5));
    yc += 1.0;

    let mut ys = SINCOF[0].mul_add(z, SINCOF[1]);
    ys = ys.mul_add(z, SINCOF[2]);
    ys *= z;
    ys = ys.mul_add(x, x);

    // The kernel blends with masks and adds the (zero) other branch: keep the
    // `+ 0.0` so signed zeros come out the same.
    let (s, c) = if use_sin_poly_for_sin {
        (0.0 + ys, yc + 0.0)
    } else {
        (yc + 0.0, 0.0 + ys)
    };
    (
        f32::from_bits(s.to_bits() ^ sign_sin),
        f32::from_bits(c.to_bits() ^ sign_cos),
    )
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
    fn kind_round_trips() {
        for k in RngKind::ALL {
            assert_eq!(k.as_str().parse::<RngKind>().unwrap(), *k);
        }
        assert!("nope".parse::<RngKind>().is_err());
    }
}
