//! The CLIP text encoder (transformers' `CLIPTextModel` and
//! `CLIPTextModelWithProjection`), with Hugging Face weight names.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, LayerNorm};
use candle_nn::{Module, VarBuilder};
use serde::Deserialize;

use crate::networks::attention::{causal_mask, merge_heads, split_heads};
use crate::networks::linear::{linear, linear_no_bias, Linear};
use crate::networks::precision::{layer_norm, param, widen};
use candle_core::Result;

/// Activation of the MLP blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HiddenAct {
    /// `x·σ(1.702x)`: OpenAI CLIP (SD 1.x, SDXL's first encoder).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// Exact (erf) GELU: OpenCLIP (SD 2.x, SDXL's second encoder).
    #[serde(rename = "gelu")]
    Gelu,
    /// tanh-approximated GELU.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
}

impl HiddenAct {
    fn forward(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            HiddenAct::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            HiddenAct::Gelu => xs.gelu_erf(),
            HiddenAct::GeluTanh => xs.gelu(),
        }
    }
}

/// A transformers `CLIPTextConfig` (config.json of `text_encoder/`); defaults
/// are transformers' own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClipTextConfig {
    /// Number of token embeddings.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Width of the residual stream.
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// Width of the MLP.
    #[serde(default = "d_intermediate")]
    pub intermediate_size: usize,
    /// Number of transformer layers.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// Longest token sequence (77).
    #[serde(default = "d_max_pos")]
    pub max_position_embeddings: usize,
    /// MLP activation.
    #[serde(default = "d_act")]
    pub hidden_act: HiddenAct,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// Output width of `text_projection` (projection models only).
    #[serde(default = "d_projection")]
    pub projection_dim: usize,
    /// EOS id used for pooling; 2 is transformers' legacy marker for "pool at
    /// the largest id", which is what most Stable Diffusion configs carry.
    #[serde(default = "d_eos")]
    pub eos_token_id: u32,
}

fn d_vocab() -> usize {
    49408
}
fn d_hidden() -> usize {
    512
}
fn d_intermediate() -> usize {
    2048
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    8
}
fn d_max_pos() -> usize {
    77
}
fn d_act() -> HiddenAct {
    HiddenAct::QuickGelu
}
fn d_eps() -> f64 {
    1e-5
}
fn d_projection() -> usize {
    512
}
fn d_eos() -> u32 {
    2
}

/// A text encoder's config.json, or the `text_config` of a full CLIP config.
impl crate::networks::NetworkConfig for ClipTextConfig {
    const WHAT: &'static str = "the text encoder";

    fn from_json(text: &str) -> std::result::Result<Self, String> {
        let mut json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(inner) = json.get_mut("text_config") {
            json = inner.take();
        }
        let cfg: Self = serde_json::from_value(json).map_err(|e| e.to_string())?;
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            ));
        }
        Ok(cfg)
    }
}

/// Outputs of [`ClipTextModel::forward`].
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// `[b, n, hidden]` after the final LayerNorm (SD 1.x conditioning).
    pub last_hidden_state: Tensor,
    /// `[b, n, hidden]` output of the second-to-last layer, without the final
    /// LayerNorm (`hidden_states[-2]`: SDXL conditioning, "clip skip 2").
    pub penultimate: Tensor,
    /// `[b, hidden]` final-LN state at the EOS position, or `[b, projection_dim]`
    /// after `text_projection` for a projection model (SDXL's pooled embedding).
    pub pooled: Tensor,
}

struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
    scale: f64,
}

impl Attention {
    fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            q_proj: linear(h, h, vb.pp("q_proj"))?,
            k_proj: linear(h, h, vb.pp("k_proj"))?,
            v_proj: linear(h, h, vb.pp("v_proj"))?,
            out_proj: linear(h, h, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
            scale: ((h / cfg.num_attention_heads) as f64).powf(-0.5),
        })
    }

    /// Causal self-attention. The shared chunked `attention` takes no mask,
    /// and at n ≤ 77 the score matrix is tiny, so it is computed directly
    /// (in f32, as f16 softmax is fragile).
    fn forward(&self, xs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let dtype = xs.dtype();
        let q = split_heads(&self.q_proj.forward(xs)?, self.heads)?.to_dtype(DType::F32)?;
        let k = split_heads(&self.k_proj.forward(xs)?, self.heads)?.to_dtype(DType::F32)?;
        let v = split_heads(&self.v_proj.forward(xs)?, self.heads)?.to_dtype(DType::F32)?;
        let scores = (q.matmul(&k.t()?)? * self.scale)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = merge_heads(&probs.matmul(&v)?, self.heads)?.to_dtype(dtype)?;
        self.out_proj.forward(&out)
    }
}

struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: HiddenAct,
}

impl Mlp {
    fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        Ok(Self {
            fc1: linear(cfg.hidden_size, cfg.intermediate_size, vb.pp("fc1"))?,
            fc2: linear(cfg.intermediate_size, cfg.hidden_size, vb.pp("fc2"))?,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.act.forward(&self.fc1.forward(xs)?)?;
        self.fc2.forward(&xs)
    }
}

struct EncoderLayer {
    self_attn: Attention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
}

impl EncoderLayer {
    fn new(vb: VarBuilder, cfg: &ClipTextConfig) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            self_attn: Attention::new(vb.pp("self_attn"), cfg)?,
            layer_norm1: layer_norm(h, eps, vb.pp("layer_norm1"))?,
            mlp: Mlp::new(vb.pp("mlp"), cfg)?,
            layer_norm2: layer_norm(h, eps, vb.pp("layer_norm2"))?,
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let h = self
            .self_attn
            .forward(&self.layer_norm1.forward(xs)?, mask)?;
        let xs = (xs + h)?;
        let h = self.mlp.forward(&self.layer_norm2.forward(&xs)?)?;
        xs + h
    }
}

/// CLIP text transformer; `text_projection` only for SDXL's second encoder.
pub struct ClipTextModel {
    token_embedding: Embedding,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
    text_projection: Option<Linear>,
    config: ClipTextConfig,
}

impl ClipTextModel {
    /// Builds the model from HF weight names (`text_model.…`, `text_projection`).
    pub fn new(vb: VarBuilder, cfg: &ClipTextConfig, with_projection: bool) -> Result<Self> {
        // Checkpoints keep the transformer under `text_model.`; transformers 5
        // saves a bare CLIPTextModel without that prefix.
        let tm = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb.clone()
        };
        let emb = tm.pp("embeddings");
        // The token table (38 M values for SD's CLIP) stays as stored; the
        // rows a prompt picks are widened after the lookup.
        let token_embedding = Embedding::new(
            emb.pp("token_embedding")
                .get((cfg.vocab_size, cfg.hidden_size), "weight")?,
            cfg.hidden_size,
        );
        let position_embedding = param(
            &emb.pp("position_embedding"),
            (cfg.max_position_embeddings, cfg.hidden_size),
            "weight",
        )?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::new(tm.pp("encoder.layers").pp(i), cfg))
            .collect::<Result<_>>()?;
        let final_layer_norm = layer_norm(
            cfg.hidden_size,
            cfg.layer_norm_eps,
            tm.pp("final_layer_norm"),
        )?;
        let text_projection = if with_projection {
            Some(linear_no_bias(
                cfg.hidden_size,
                cfg.projection_dim,
                vb.pp("text_projection"),
            )?)
        } else {
            None
        };
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_layer_norm,
            text_projection,
            config: cfg.clone(),
        })
    }

    /// The config this model was built from.
    pub fn config(&self) -> &ClipTextConfig {
        &self.config
    }

    /// Encodes `ids: [b, n]` (u32, n ≤ max_position_embeddings).
    pub fn forward(&self, ids: &Tensor) -> Result<ClipOutput> {
        let (b, n) = ids.dims2()?;
        if n > self.config.max_position_embeddings || n == 0 {
            return Err(candle_core::Error::Msg(format!(
                "text encoder takes 1..={} tokens, got {n}",
                self.config.max_position_embeddings
            )));
        }
        let device = ids.device();
        let ids = ids.to_dtype(DType::U32)?;
        let mut xs = widen(
            &self.token_embedding.forward(&ids)?,
            self.position_embedding.dtype(),
        )?
        .broadcast_add(&self.position_embedding.narrow(0, 0, n)?)?;
        let mask = causal_mask(n, device)?;

        let mut penultimate = xs.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            if i + 1 == self.layers.len() {
                penultimate = xs.clone();
            }
            xs = layer.forward(&xs, &mask)?;
        }
        let last_hidden_state = self.final_layer_norm.forward(&xs)?;

        let positions = self.pool_positions(&ids, b, device)?;
        let pooled = last_hidden_state
            .reshape((b * n, ()))?
            .index_select(&positions, 0)?;
        let pooled = match &self.text_projection {
            Some(p) => p.forward(&pooled)?,
            None => pooled,
        };
        Ok(ClipOutput {
            last_hidden_state,
            penultimate,
            pooled,
        })
    }

    /// Flat `b·n + pos` index of each row's pooling token: the first
    /// `eos_token_id` (transformers' rule), or with the legacy id 2 the first
    /// occurrence of the largest id, which is EOS in CLIP's vocabulary. A row
    /// without the EOS id also falls back to the largest id (transformers
    /// would silently pool position 0; our tokenizer always emits EOS).
    fn pool_positions(&self, ids: &Tensor, b: usize, device: &Device) -> Result<Tensor> {
        let rows = ids.to_vec2::<u32>()?;
        let eos = self.config.eos_token_id;
        let mut flat = Vec::with_capacity(b);
        for (r, row) in rows.iter().enumerate() {
            let by_eos = (eos != 2)
                .then(|| row.iter().position(|&t| t == eos))
                .flatten();
            let pos = by_eos.unwrap_or_else(|| {
                let max = row.iter().copied().max().unwrap_or(0);
                row.iter().position(|&t| t == max).unwrap_or(0)
            });
            flat.push((r * row.len() + pos) as u32);
        }
        Tensor::new(flat, device)
    }
}
