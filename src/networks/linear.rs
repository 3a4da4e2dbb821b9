//! PyTorch's `nn.Linear` with its weight kept in the stored precision
//! (see [`super::precision`]).

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::precision::{param, with_weight};

/// `y = x·Wᵀ + b` over the last dimension; `weight: [out, in]` as stored,
/// `bias: [out]` in the compute dtype.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// From tensors: `weight: [out, in]`, optional `bias: [out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }
}

/// Loads `weight` and `bias` of an `in_dim → out_dim` layer.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = param(&vb, out_dim, "bias")?;
    Ok(Linear::new(weight, Some(bias)))
}

/// Loads `weight` of an `in_dim → out_dim` layer without bias.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(Linear::new(vb.get((out_dim, in_dim), "weight")?, None))
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        with_weight(&self.weight, x.dtype(), |w| {
            candle_nn::Linear::new(w.clone(), self.bias.clone()).forward(x)
        })
    }
}
