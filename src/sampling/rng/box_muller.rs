//! `normal_fill_16_AVX2` of PyTorch's CPU kernels, one lane at a time: the
//! Box–Muller transform on the Cephes-style polynomial `log256_ps` /
//! `sincos256_ps` of `ATen/native/cpu/avx_mathfun.h`, with the multiply-adds
//! that GCC contracts into FMAs fused the same way.

/// `normal_fill_16_AVX2` for mean 0 / std 1, one lane at a time.
pub(super) fn normal_fill_16(data: &mut [f32; 16]) {
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
