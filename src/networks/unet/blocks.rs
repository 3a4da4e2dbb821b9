//! The U-Net's down, mid and up blocks: resnets interleaved with attention.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::transformer::{Transformer2D, TransformerConfig};
use crate::networks::layers::{Downsample2D, ResnetBlock2D, Upsample2D};

/// What every block shares: norm settings, the timestep width and the attention layout.
#[derive(Debug, Clone, Copy)]
pub struct BlockParams {
    /// Group-norm groups.
    pub groups: usize,
    /// Group-norm epsilon.
    pub eps: f64,
    /// Width of the timestep embedding.
    pub temb: usize,
    /// Attention heads in this block.
    pub heads: usize,
    /// Transformer blocks per attention.
    pub depth: usize,
    /// Width of the text embeddings.
    pub context_dim: usize,
    /// Linear instead of 1×1-conv projections.
    pub linear_projection: bool,
    /// Whether the block has attention at all (`CrossAttn…` vs plain).
    pub cross_attention: bool,
}

impl BlockParams {
    fn resnet(&self, vb: VarBuilder, i: usize, o: usize) -> Result<ResnetBlock2D> {
        ResnetBlock2D::new(vb, i, o, Some(self.temb), self.groups, self.eps)
    }

    fn transformer(&self, vb: VarBuilder, channels: usize) -> Result<Transformer2D> {
        Transformer2D::new(
            vb,
            TransformerConfig {
                channels,
                heads: self.heads,
                depth: self.depth,
                context_dim: self.context_dim,
                groups: self.groups,
                linear_projection: self.linear_projection,
            },
        )
    }
}

/// `DownBlock2D` / `CrossAttnDownBlock2D`.
pub struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    downsample: Option<Downsample2D>,
}

impl DownBlock {
    /// `layers` resnet(+attention) pairs, then an optional downsampler.
    pub fn new(
        vb: VarBuilder,
        p: BlockParams,
        in_ch: usize,
        out_ch: usize,
        layers: usize,
        downsample_padding: Option<usize>,
    ) -> Result<Self> {
        let mut resnets = Vec::with_capacity(layers);
        let mut attentions = Vec::new();
        for i in 0..layers {
            let i_ch = if i == 0 { in_ch } else { out_ch };
            resnets.push(p.resnet(vb.pp(format!("resnets.{i}")), i_ch, out_ch)?);
            if p.cross_attention {
                attentions.push(p.transformer(vb.pp(format!("attentions.{i}")), out_ch)?);
            }
        }
        let downsample = downsample_padding
            .map(|pad| Downsample2D::new(vb.pp("downsamplers.0"), out_ch, pad))
            .transpose()?;
        Ok(Self {
            resnets,
            attentions,
            downsample,
        })
    }

    /// Returns the output and every intermediate state the up path will consume.
    pub fn forward(
        &self,
        xs: &Tensor,
        temb: &Tensor,
        context: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let mut xs = xs.clone();
        let mut states = Vec::with_capacity(self.resnets.len() + 1);
        for (i, resnet) in self.resnets.iter().enumerate() {
            xs = resnet.forward(&xs, Some(temb))?;
            if let Some(attn) = self.attentions.get(i) {
                xs = attn.forward(&xs, context)?;
            }
            states.push(xs.clone());
        }
        if let Some(down) = &self.downsample {
            xs = down.forward(&xs)?;
            states.push(xs.clone());
        }
        Ok((xs, states))
    }
}

/// `UNetMidBlock2DCrossAttn`: resnet, then (attention, resnet) pairs.
pub struct MidBlock {
    first: ResnetBlock2D,
    layers: Vec<(Transformer2D, ResnetBlock2D)>,
    /// Each resnet's output is divided by this (`mid_block_scale_factor`, 1 in SD).
    scale: f64,
}

impl MidBlock {
    /// One attention layer, as in every SD model.
    pub fn new(vb: VarBuilder, p: BlockParams, channels: usize, scale: f64) -> Result<Self> {
        Ok(Self {
            first: p.resnet(vb.pp("resnets.0"), channels, channels)?,
            layers: vec![(
                p.transformer(vb.pp("attentions.0"), channels)?,
                p.resnet(vb.pp("resnets.1"), channels, channels)?,
            )],
            scale,
        })
    }

    /// Apply the block.
    pub fn forward(&self, xs: &Tensor, temb: &Tensor, context: &Tensor) -> Result<Tensor> {
        let scaled = |x: Tensor| {
            if self.scale == 1.0 {
                Ok(x)
            } else {
                x / self.scale
            }
        };
        let mut xs = scaled(self.first.forward(xs, Some(temb))?)?;
        for (attn, resnet) in &self.layers {
            xs = attn.forward(&xs, context)?;
            xs = scaled(resnet.forward(&xs, Some(temb))?)?;
        }
        Ok(xs)
    }
}

/// `UpBlock2D` / `CrossAttnUpBlock2D`: each resnet first concatenates one skip state.
pub struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    upsample: Option<Upsample2D>,
}

/// Channel bookkeeping of an up block, named as in diffusers.
#[derive(Debug, Clone, Copy)]
pub struct UpChannels {
    /// Channels of the deepest skip state this block consumes (its last resnet's).
    pub in_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Channels coming from the previous (deeper) up block.
    pub prev_out_ch: usize,
}

impl UpBlock {
    /// `layers` resnet(+attention) pairs, then an optional upsampler.
    pub fn new(
        vb: VarBuilder,
        p: BlockParams,
        ch: UpChannels,
        layers: usize,
        upsample: bool,
    ) -> Result<Self> {
        let mut resnets = Vec::with_capacity(layers);
        let mut attentions = Vec::new();
        for i in 0..layers {
            let skip = if i == layers - 1 { ch.in_ch } else { ch.out_ch };
            let input = if i == 0 { ch.prev_out_ch } else { ch.out_ch };
            resnets.push(p.resnet(vb.pp(format!("resnets.{i}")), input + skip, ch.out_ch)?);
            if p.cross_attention {
                attentions.push(p.transformer(vb.pp(format!("attentions.{i}")), ch.out_ch)?);
            }
        }
        let upsample = upsample
            .then(|| Upsample2D::new(vb.pp("upsamplers.0"), ch.out_ch))
            .transpose()?;
        Ok(Self {
            resnets,
            attentions,
            upsample,
        })
    }

    /// `skips` are consumed from the end; `next_size` is the spatial size of
    /// the next skip state (what the upsampler must produce), if any.
    pub fn forward(
        &self,
        xs: &Tensor,
        skips: &mut Vec<Tensor>,
        temb: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let mut xs = xs.clone();
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips
                .pop()
                .ok_or_else(|| candle_core::Error::Msg("U-Net skip states exhausted".into()))?;
            xs = Tensor::cat(&[&xs, &skip], 1)?;
            xs = resnet.forward(&xs, Some(temb))?;
            if let Some(attn) = self.attentions.get(i) {
                xs = attn.forward(&xs, context)?;
            }
        }
        if let Some(up) = &self.upsample {
            let (_, _, h, w) = xs.dims4()?;
            let (th, tw) = match skips.last() {
                Some(next) => {
                    let (_, _, nh, nw) = next.dims4()?;
                    (nh, nw)
                }
                None => (h * 2, w * 2),
            };
            xs = up.forward_to(&xs, th, tw)?;
        }
        Ok(xs)
    }
}
