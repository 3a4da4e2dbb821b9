//! TAESD (madebyollin's tiny autoencoder, diffusers `AutoencoderTiny`): a
//! small decoder that turns diffusion latents into a recognisable RGB image
//! far more cheaply than the full VAE. Used for sharper per-step previews
//! when its weights (`madebyollin/taesd`, `madebyollin/taesdxl`) are present.
//!
//! It reads the *scaled* diffusion latents as they are (no division by the
//! VAE scaling factor) and returns RGB in [-1, 1] like the VAE.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::networks::layers::{conv2d, Conv2d};
use candle_core::Result;

fn d_blocks() -> Vec<usize> {
    vec![64; 4]
}
fn d_num_blocks() -> Vec<usize> {
    vec![3, 3, 3, 1]
}
fn d_latent() -> usize {
    4
}
fn d_rgb() -> usize {
    3
}
fn d_up() -> usize {
    2
}

/// The decoder half of an `AutoencoderTiny` config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct TinyDecoderConfig {
    /// Channels at each level.
    #[serde(default = "d_blocks")]
    pub decoder_block_out_channels: Vec<usize>,
    /// Residual blocks at each level.
    #[serde(default = "d_num_blocks")]
    pub num_decoder_blocks: Vec<usize>,
    /// Latent channels in.
    #[serde(default = "d_latent")]
    pub latent_channels: usize,
    /// Image channels out.
    #[serde(default = "d_rgb")]
    pub out_channels: usize,
    /// Nearest-neighbour upsampling factor between levels.
    #[serde(default = "d_up")]
    pub upsampling_scaling_factor: usize,
}

/// An `AutoencoderTiny` config.json.
impl crate::networks::NetworkConfig for TinyDecoderConfig {
    const WHAT: &'static str = "the preview decoder (TAESD)";

    fn from_json(text: &str) -> std::result::Result<Self, String> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let n = cfg.decoder_block_out_channels.len();
        if n == 0 || cfg.num_decoder_blocks.len() != n {
            return Err(
                "decoder_block_out_channels and num_decoder_blocks must have the same non-zero length".into(),
            );
        }
        Ok(cfg)
    }
}

/// `relu(conv(relu(conv(relu(conv(x))))) + skip(x))`.
struct TinyBlock {
    convs: [Conv2d; 3],
    skip: Option<Conv2d>,
}

impl TinyBlock {
    fn new(vb: VarBuilder, ch_in: usize, ch_out: usize) -> Result<Self> {
        let c = vb.pp("conv");
        Ok(Self {
            convs: [
                conv2d(c.pp("0"), ch_in, ch_out, 3, 1, 1)?,
                conv2d(c.pp("2"), ch_out, ch_out, 3, 1, 1)?,
                conv2d(c.pp("4"), ch_out, ch_out, 3, 1, 1)?,
            ],
            skip: (ch_in != ch_out)
                .then(|| -> Result<Conv2d> {
                    let w = vb.pp("skip").get((ch_out, ch_in, 1, 1), "weight")?;
                    Conv2d::new(w, None, 0, 1)
                })
                .transpose()?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.convs[0].forward(x)?.relu()?;
        let h = self.convs[1].forward(&h)?.relu()?;
        let h = self.convs[2].forward(&h)?;
        let skip = match &self.skip {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        (h + skip)?.relu()
    }
}

/// One entry of diffusers' `decoder.layers` sequence.
enum Layer {
    Conv(Conv2d),
    Relu,
    Block(TinyBlock),
    Upsample(usize),
}

/// The TAESD decoder.
pub struct TinyDecoder {
    layers: Vec<Layer>,
}

impl TinyDecoder {
    /// Build from an `AutoencoderTiny` checkpoint (keys `decoder.layers.N…`).
    pub fn new(vb: VarBuilder, cfg: &TinyDecoderConfig) -> Result<Self> {
        let vb = vb.pp("decoder.layers");
        let ch = &cfg.decoder_block_out_channels;
        // Indices follow diffusers' nn.Sequential, so weight names line up.
        let mut layers = vec![
            Layer::Conv(conv2d(vb.pp("0"), cfg.latent_channels, ch[0], 3, 1, 1)?),
            Layer::Relu,
        ];
        let last = ch.len() - 1;
        for (level, (&c, &blocks)) in ch.iter().zip(&cfg.num_decoder_blocks).enumerate() {
            for _ in 0..blocks {
                let i = layers.len();
                layers.push(Layer::Block(TinyBlock::new(vb.pp(i), c, c)?));
            }
            if level != last {
                layers.push(Layer::Upsample(cfg.upsampling_scaling_factor));
            }
            let i = layers.len();
            let conv = if level == last {
                conv2d(vb.pp(i), c, cfg.out_channels, 3, 1, 1)?
            } else {
                Conv2d::new(vb.pp(i).get((c, c, 3, 3), "weight")?, None, 1, 1)?
            };
            layers.push(Layer::Conv(conv));
        }
        Ok(Self { layers })
    }

    /// Scaled diffusion latents `[b, 4, h, w]` to RGB `[b, 3, h·8, w·8]` in [-1, 1].
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        // TAESD's input clamp: 3·tanh(x/3).
        let mut x = ((latents / 3.0)?.tanh()? * 3.0)?;
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(c) => c.forward(&x)?,
                Layer::Relu => x.relu()?,
                Layer::Block(b) => b.forward(&x)?,
                Layer::Upsample(f) => {
                    let (_, _, h, w) = x.dims4()?;
                    x.upsample_nearest2d(h * f, w * f)?
                }
            };
        }
        (x * 2.0)? - 1.0
    }
}
