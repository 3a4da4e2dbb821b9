//! Sinusoidal timestep embeddings and the MLPs that project them.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::networks::linear::{linear, Linear};

/// diffusers' `get_timestep_embedding`: `[n]` values to `[n, dim]` sin/cos features.
pub fn sinusoidal(
    values: &[f64],
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
    device: &Device,
) -> Result<Tensor> {
    let half = dim / 2;
    // f32 throughout, in the same order of operations as diffusers, so the
    // embedding matches PyTorch's to the last bit or two.
    let freqs: Vec<f32> = (0..half)
        .map(|i| ((-(10000f32.ln()) * i as f32) / (half as f32 - freq_shift as f32)).exp())
        .collect();
    let mut out = Vec::with_capacity(values.len() * dim);
    for &v in values {
        let args: Vec<f32> = freqs.iter().map(|f| v as f32 * f).collect();
        let sin = args.iter().map(|a| a.sin());
        let cos = args.iter().map(|a| a.cos());
        if flip_sin_to_cos {
            out.extend(cos.chain(sin));
        } else {
            out.extend(sin.chain(cos));
        }
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    Tensor::from_vec(out, (values.len(), dim), device)
}

/// `linear_1 → SiLU → linear_2` (diffusers `TimestepEmbedding`).
#[derive(Debug)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    /// Build with the given input and output widths.
    pub fn new(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        Ok(Self {
            linear_1: linear(in_dim, out_dim, vb.pp("linear_1"))?,
            linear_2: linear(out_dim, out_dim, vb.pp("linear_2"))?,
        })
    }

    /// Project `[n, in_dim]` features (cast to the weights' dtype first).
    pub fn forward(&self, xs: &Tensor, dtype: DType) -> Result<Tensor> {
        let xs = self.linear_1.forward(&xs.to_dtype(dtype)?)?;
        self.linear_2.forward(&candle_nn::ops::silu(&xs)?)
    }
}
