//! Small tensor helpers shared by the samplers.

use candle_core::{DType, Tensor};

use crate::error::Result;

/// `t` as f32: samplers do their arithmetic in f32 even for f16 models,
/// since the differences between noise levels are below f16 resolution.
pub(super) fn f32(t: &Tensor) -> Result<Tensor> {
    Ok(t.to_dtype(DType::F32)?)
}

/// `t * c` for a scalar `c`.
pub(super) fn scale(t: &Tensor, c: f64) -> Result<Tensor> {
    Ok(t.affine(c, 0.0)?)
}

/// `a * ca + b * cb`.
pub(super) fn lincomb(a: &Tensor, ca: f64, b: &Tensor, cb: f64) -> Result<Tensor> {
    Ok((scale(a, ca)? + scale(b, cb)?)?)
}

/// Puts a step result back into the caller's dtype.
pub(super) fn like(t: Tensor, dtype: DType) -> Result<Tensor> {
    Ok(t.to_dtype(dtype)?)
}

/// `sqrt(ac) * original + sqrt(1 - ac) * noise`: noising in alpha space at
/// one timestep's `alphas_cumprod` (diffusers: `DDIMScheduler.add_noise`,
/// which LCM shares).
pub(super) fn alpha_add_noise(ac: f32, original: &Tensor, noise: &Tensor) -> Result<Tensor> {
    let noise = noise.to_dtype(original.dtype())?;
    lincomb(original, ac.sqrt() as f64, &noise, (1.0 - ac).sqrt() as f64)
}

/// Checks a step index against the schedule length.
pub(super) fn check_step(step: usize, len: usize) -> Result<()> {
    if step >= len {
        return Err(crate::error::Error::InvalidParams(format!(
            "step {step} is past the end of a {len}-step schedule"
        )));
    }
    Ok(())
}
