//! The U-Net's config.json (diffusers `UNet2DConditionModel`), as data.

use serde::Deserialize;

/// A config value that diffusers allows either once for all blocks or per block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PerBlock<T> {
    /// The same value for every block.
    One(T),
    /// One value per down block (in down-block order).
    Each(Vec<T>),
}

impl<T: Clone> PerBlock<T> {
    /// Expand to one value per block.
    pub fn expand(&self, blocks: usize) -> Vec<T> {
        match self {
            PerBlock::One(v) => vec![v.clone(); blocks],
            PerBlock::Each(v) => v.clone(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_in_channels() -> usize {
    4
}
fn default_layers() -> PerBlock<usize> {
    PerBlock::One(2)
}
fn default_one() -> PerBlock<usize> {
    PerBlock::One(1)
}
fn default_groups() -> usize {
    32
}
fn default_eps() -> f64 {
    1e-5
}
fn default_one_f64() -> f64 {
    1.0
}
fn default_cross_dim() -> PerBlock<usize> {
    PerBlock::One(1280)
}
fn default_heads() -> PerBlock<usize> {
    PerBlock::One(8)
}
fn default_mid() -> Option<String> {
    Some("UNetMidBlock2DCrossAttn".into())
}

/// Fields of diffusers' `UNet2DConditionModel` config that change the network.
/// Unknown keys are ignored; missing keys take diffusers' defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct UNetConfig {
    /// Latent channels in (4; 9 for inpainting models).
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    /// Latent channels out.
    #[serde(default = "default_in_channels")]
    pub out_channels: usize,
    /// Native latent size (64 for SD1.x, 96 for SD2 768, 128 for SDXL).
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// Multiply the input by 2 and subtract 1 first (never used by SD).
    #[serde(default)]
    pub center_input_sample: bool,
    /// Sinusoidal timestep embedding puts cos before sin.
    #[serde(default = "default_true")]
    pub flip_sin_to_cos: bool,
    /// Frequency shift of the timestep embedding.
    #[serde(default)]
    pub freq_shift: f64,
    /// Down block kinds, e.g. `CrossAttnDownBlock2D`, `DownBlock2D`.
    pub down_block_types: Vec<String>,
    /// Mid block kind (`UNetMidBlock2DCrossAttn` or none).
    #[serde(default = "default_mid")]
    pub mid_block_type: Option<String>,
    /// Up block kinds, e.g. `UpBlock2D`, `CrossAttnUpBlock2D`.
    pub up_block_types: Vec<String>,
    /// Channels of each down block.
    pub block_out_channels: Vec<usize>,
    /// Resnet layers per down block (up blocks get one more).
    #[serde(default = "default_layers")]
    pub layers_per_block: PerBlock<usize>,
    /// Padding of the downsampling convolution.
    #[serde(default = "default_one_usize")]
    pub downsample_padding: usize,
    /// Output scale of the mid block's resnets.
    #[serde(default = "default_one_f64")]
    pub mid_block_scale_factor: f64,
    /// Group-norm groups.
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    /// Group-norm epsilon.
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    /// Width of the text embeddings the cross-attention reads.
    #[serde(default = "default_cross_dim")]
    pub cross_attention_dim: PerBlock<usize>,
    /// Transformer layers inside each attention block (SDXL: `[1, 2, 10]`).
    #[serde(default = "default_one")]
    pub transformer_layers_per_block: PerBlock<usize>,
    /// Historically misnamed: the number of attention *heads* unless
    /// `num_attention_heads` is given (diffusers keeps this quirk).
    #[serde(default = "default_heads")]
    pub attention_head_dim: PerBlock<usize>,
    /// Number of attention heads, when the config spells it out.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock<usize>>,
    /// Linear (SD2, SDXL) rather than 1×1-conv projections around attention.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// `text_time` for SDXL: pooled text embedding + size/crop conditioning.
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// Sinusoidal width of each SDXL `add_time_ids` entry (256).
    #[serde(default)]
    pub addition_time_embed_dim: Option<usize>,
    /// Input width of SDXL's `add_embedding` (pooled dim + 6 × time dim).
    #[serde(default)]
    pub projection_class_embeddings_input_dim: Option<usize>,
    /// Class-conditioning (unsupported; refused if present).
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// Guidance-embedding input of LCM-distilled U-Nets (unsupported).
    #[serde(default)]
    pub time_cond_proj_dim: Option<usize>,
    /// `default` or `scale_shift` (only `default` is used by SD models).
    #[serde(default)]
    pub resnet_time_scale_shift: Option<String>,
    /// Self-attention replaced by cross-attention (unsupported).
    #[serde(default)]
    pub only_cross_attention: Option<serde_json::Value>,
}

fn default_one_usize() -> usize {
    1
}

impl crate::networks::NetworkConfig for UNetConfig {
    const WHAT: &'static str = "the U-Net";

    fn from_json(text: &str) -> std::result::Result<Self, String> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }
}

impl UNetConfig {
    /// Reject configurations this implementation does not build.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let n = self.block_out_channels.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err("down_block_types, up_block_types and block_out_channels must have the same non-zero length".into());
        }
        for (name, len) in [
            ("layers_per_block", self.layers_per_block.expand(n).len()),
            (
                "cross_attention_dim",
                self.cross_attention_dim.expand(n).len(),
            ),
            (
                "transformer_layers_per_block",
                self.transformer_layers_per_block.expand(n).len(),
            ),
            ("attention heads", self.heads().len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries for {n} blocks"));
            }
        }
        for t in &self.down_block_types {
            if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
                return Err(format!("unsupported down block type {t}"));
            }
        }
        for t in &self.up_block_types {
            if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
                return Err(format!("unsupported up block type {t}"));
            }
        }
        match self.mid_block_type.as_deref() {
            None | Some("UNetMidBlock2DCrossAttn") => {}
            Some(t) => return Err(format!("unsupported mid block type {t}")),
        }
        match self.addition_embed_type.as_deref() {
            None => {}
            Some("text_time")
                if self.addition_time_embed_dim.is_none()
                    || self.projection_class_embeddings_input_dim.is_none() =>
            {
                return Err("addition_embed_type text_time needs addition_time_embed_dim and projection_class_embeddings_input_dim".into());
            }
            Some("text_time") => {}
            Some(t) => return Err(format!("unsupported addition_embed_type {t}")),
        }
        if self.class_embed_type.is_some() {
            return Err("class-conditioned U-Nets are not supported".into());
        }
        if self.time_cond_proj_dim.is_some() {
            return Err("LCM-distilled U-Nets with guidance embedding (time_cond_proj_dim) are not supported yet".into());
        }
        if matches!(self.resnet_time_scale_shift.as_deref(), Some(s) if s != "default") {
            return Err("resnet_time_scale_shift other than 'default' is not supported".into());
        }
        if matches!(
            &self.only_cross_attention,
            Some(serde_json::Value::Bool(true))
        ) {
            return Err("only_cross_attention is not supported".into());
        }
        for (c, h) in self.block_out_channels.iter().zip(self.heads()) {
            if h == 0 || c % h != 0 {
                return Err(format!("{h} attention heads do not divide {c} channels"));
            }
            if c % self.norm_num_groups != 0 {
                return Err(format!(
                    "{} groups do not divide {c} channels",
                    self.norm_num_groups
                ));
            }
        }
        Ok(())
    }

    /// Attention heads per down block (see [`UNetConfig::attention_head_dim`]).
    pub fn heads(&self) -> Vec<usize> {
        let n = self.block_out_channels.len();
        self.num_attention_heads
            .as_ref()
            .unwrap_or(&self.attention_head_dim)
            .expand(n)
    }

    /// Whether this U-Net wants SDXL's pooled-text and size conditioning.
    pub fn uses_text_time(&self) -> bool {
        self.addition_embed_type.as_deref() == Some("text_time")
    }
}
