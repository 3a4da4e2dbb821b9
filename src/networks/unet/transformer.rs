//! diffusers' `Transformer2DModel`: the attention blocks that let the U-Net
//! look at the image itself (self-attention) and at the prompt (cross-attention).

use candle_core::{Result, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};

use crate::networks::attention::{attention, merge_heads, split_heads};
use crate::networks::group_norm::{group_norm, GroupNorm};
use crate::networks::layers::{conv2d, Conv2d};
use crate::networks::linear::{linear, linear_no_bias, Linear};
use crate::networks::precision::layer_norm;

/// Multi-head attention with `to_q/to_k/to_v` (no bias) and `to_out.0`.
#[derive(Debug)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    scale: f64,
}

impl Attention {
    /// `context_dim` is the width of what the keys/values come from
    /// (the query width for self-attention, the text width for cross-attention).
    pub fn new(vb: VarBuilder, query_dim: usize, context_dim: usize, heads: usize) -> Result<Self> {
        let head_dim = query_dim / heads;
        Ok(Self {
            to_q: linear_no_bias(query_dim, query_dim, vb.pp("to_q"))?,
            to_k: linear_no_bias(context_dim, query_dim, vb.pp("to_k"))?,
            to_v: linear_no_bias(context_dim, query_dim, vb.pp("to_v"))?,
            to_out: linear(query_dim, query_dim, vb.pp("to_out.0"))?,
            heads,
            scale: 1.0 / (head_dim as f64).sqrt(),
        })
    }

    /// `xs: [b, n, c]`, `context: [b, m, context_dim]` (or `None` for self-attention).
    pub fn forward(&self, xs: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let context = context.unwrap_or(xs);
        let q = split_heads(&self.to_q.forward(xs)?, self.heads)?;
        let k = split_heads(&self.to_k.forward(context)?, self.heads)?;
        let v = split_heads(&self.to_v.forward(context)?, self.heads)?;
        let out = attention(&q, &k, &v, self.scale)?;
        self.to_out.forward(&merge_heads(&out, self.heads)?)
    }
}

/// `GEGLU` feed-forward: `net.0.proj` doubles the width into value and gate,
/// `net.2` projects back.
#[derive(Debug)]
struct FeedForward {
    proj: Linear,
    out: Linear,
}

impl FeedForward {
    fn new(vb: VarBuilder, dim: usize) -> Result<Self> {
        let inner = dim * 4;
        Ok(Self {
            proj: linear(dim, inner * 2, vb.pp("net.0.proj"))?,
            out: linear(inner, dim, vb.pp("net.2"))?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        // diffusers uses the exact (erf) GELU here, not the tanh approximation.
        let h = crate::networks::geglu::geglu(&self.proj.forward(xs)?)?;
        self.out.forward(&h)
    }
}

/// Self-attention, cross-attention and feed-forward, each with a pre-LayerNorm
/// and a residual connection.
#[derive(Debug)]
struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl BasicTransformerBlock {
    fn new(vb: VarBuilder, dim: usize, context_dim: usize, heads: usize) -> Result<Self> {
        Ok(Self {
            norm1: layer_norm(dim, 1e-5, vb.pp("norm1"))?,
            attn1: Attention::new(vb.pp("attn1"), dim, dim, heads)?,
            norm2: layer_norm(dim, 1e-5, vb.pp("norm2"))?,
            attn2: Attention::new(vb.pp("attn2"), dim, context_dim, heads)?,
            norm3: layer_norm(dim, 1e-5, vb.pp("norm3"))?,
            ff: FeedForward::new(vb.pp("ff"), dim)?,
        })
    }

    fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let xs = (self.attn1.forward(&self.norm1.forward(xs)?, None)? + xs)?;
        let xs = (self
            .attn2
            .forward(&self.norm2.forward(&xs)?, Some(context))?
            + &xs)?;
        self.ff.forward(&self.norm3.forward(&xs)?)? + xs
    }
}

/// Either a 1×1 convolution on `[b, c, h, w]` (SD1.x) or a linear layer on
/// `[b, h·w, c]` (SD2.x, SDXL), as `use_linear_projection` says.
#[derive(Debug)]
enum Projection {
    Conv(Conv2d),
    Linear(Linear),
}

impl Projection {
    fn new(vb: VarBuilder, i: usize, o: usize, use_linear: bool) -> Result<Self> {
        Ok(if use_linear {
            Projection::Linear(linear(i, o, vb)?)
        } else {
            Projection::Conv(conv2d(vb, i, o, 1, 0, 1)?)
        })
    }
}

/// Shape parameters of a [`Transformer2D`].
#[derive(Debug, Clone, Copy)]
pub struct TransformerConfig {
    /// Channels of the feature map (= the attention width).
    pub channels: usize,
    /// Attention heads.
    pub heads: usize,
    /// Stacked transformer blocks.
    pub depth: usize,
    /// Width of the text embeddings.
    pub context_dim: usize,
    /// Group-norm groups.
    pub groups: usize,
    /// Linear instead of 1×1-conv projections.
    pub linear_projection: bool,
}

/// Group norm, projection in, `depth` transformer blocks, projection out, residual.
pub struct Transformer2D {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<BasicTransformerBlock>,
    proj_out: Projection,
}

impl Transformer2D {
    /// Build from diffusers' key names.
    pub fn new(vb: VarBuilder, c: TransformerConfig) -> Result<Self> {
        let blocks = (0..c.depth)
            .map(|i| {
                BasicTransformerBlock::new(
                    vb.pp(format!("transformer_blocks.{i}")),
                    c.channels,
                    c.context_dim,
                    c.heads,
                )
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            norm: group_norm(c.groups, c.channels, 1e-6, vb.pp("norm"))?,
            proj_in: Projection::new(
                vb.pp("proj_in"),
                c.channels,
                c.channels,
                c.linear_projection,
            )?,
            blocks,
            proj_out: Projection::new(
                vb.pp("proj_out"),
                c.channels,
                c.channels,
                c.linear_projection,
            )?,
        })
    }

    /// `xs: [b, c, h, w]`, `context: [b, m, context_dim]`.
    pub fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let residual = xs;
        let xs = self.norm.forward(xs)?;
        let to_tokens =
            |t: Tensor| -> Result<Tensor> { t.permute((0, 2, 3, 1))?.reshape((b, h * w, c)) };
        let mut tokens = match &self.proj_in {
            Projection::Conv(conv) => to_tokens(conv.forward(&xs)?)?,
            Projection::Linear(lin) => lin.forward(&to_tokens(xs)?)?,
        };
        for block in &self.blocks {
            tokens = block.forward(&tokens, context)?;
        }
        let to_map = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()
        };
        let out = match &self.proj_out {
            Projection::Conv(conv) => conv.forward(&to_map(tokens)?)?,
            Projection::Linear(lin) => to_map(lin.forward(&tokens)?)?,
        };
        out + residual
    }
}
