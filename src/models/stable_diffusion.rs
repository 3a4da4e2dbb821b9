//! A loaded Stable Diffusion pipeline: every network, its tokenizer(s) and
//! its scheduler config, on one device, ready to generate.

use candle_core::{DType, Device};

use crate::diffusion::preview::LatentSpace;
use crate::diffusion::schedulers::SchedulerConfig;
use crate::error::{Error, Result};
use crate::models::clip::{ClipTextConfig, ClipTextModel};
use crate::models::files::{ComponentFiles, ModelFiles};
use crate::models::taesd::{TinyDecoder, TinyDecoderConfig};
use crate::models::tokenizer::ClipTokenizer;
use crate::models::unet::{UNet2DConditionModel, UNetConfig};
use crate::models::vae::{AutoencoderKl, VaeConfig};
use crate::models::weights::WeightSet;

/// The model families we know defaults for, detected from the configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ModelFamily {
    /// SD 1.x: one CLIP-L encoder, 768-wide context.
    Sd1,
    /// SD 2.x (and SD-Turbo): one OpenCLIP-H encoder, 1024-wide context.
    Sd2,
    /// SDXL (and SDXL-Turbo): two encoders, pooled + size conditioning.
    Sdxl,
}

/// A text encoder with the tokenizer made for it.
pub struct TextEncoder {
    /// Splits prompts into 77-token chunks.
    pub tokenizer: ClipTokenizer,
    /// The CLIP text transformer.
    pub model: ClipTextModel,
}

/// Progress callback while loading: (what is loading, fraction done 0..=1).
pub type LoadProgress<'a> = &'a mut dyn FnMut(&str, f32);

/// Everything needed to run the pipeline.
pub struct StableDiffusion {
    /// Where the files came from.
    pub files: ModelFiles,
    /// Detected family.
    pub family: ModelFamily,
    /// Compute device.
    pub device: Device,
    /// Dtype of the U-Net and text encoders.
    pub dtype: DType,
    /// The denoiser.
    pub unet: UNet2DConditionModel,
    /// The autoencoder (in `vae_dtype`).
    pub vae: AutoencoderKl,
    /// Dtype the VAE was loaded in.
    pub vae_dtype: DType,
    /// One encoder (SD1/2) or two (SDXL).
    pub text_encoders: Vec<TextEncoder>,
    /// From `scheduler/scheduler_config.json`.
    pub scheduler_config: SchedulerConfig,
    /// SDXL: an empty negative prompt becomes all-zero embeddings.
    pub force_zeros_for_empty_prompt: bool,
    /// TAESD, when installed: sharper per-step previews than the linear map.
    pub preview_decoder: Option<TinyDecoder>,
}

fn weights_error(c: &ComponentFiles, e: impl std::fmt::Display) -> Error {
    Error::BadWeights {
        path: c
            .weights
            .first()
            .cloned()
            .unwrap_or_else(|| c.config.clone()),
        reason: e.to_string(),
    }
}

impl StableDiffusion {
    /// The compute dtype for a device: f32 on CPU (f16 is slower there), f16 on GPUs.
    pub fn dtype_for(device: &Device) -> DType {
        if device.is_cpu() {
            DType::F32
        } else {
            DType::F16
        }
    }

    /// Load every component. `progress` hears about each part as it starts.
    pub fn load(files: ModelFiles, device: &Device, progress: LoadProgress) -> Result<Self> {
        let dtype = Self::dtype_for(device);
        let steps = if files.text_encoder_2.is_some() {
            5.0
        } else {
            4.0
        };
        let mut done = 0.0;
        let mut tick = |what: &str| {
            progress(what, done / steps);
            done += 1.0;
        };

        tick("text encoder");
        let mut text_encoders = vec![load_encoder(
            &files.text_encoder,
            &files.tokenizer,
            false,
            dtype,
            device,
        )?];
        if let (Some(te2), Some(tok2)) = (&files.text_encoder_2, &files.tokenizer_2) {
            tick("second text encoder");
            text_encoders.push(load_encoder(te2, tok2, true, dtype, device)?);
        }

        tick("U-Net");
        let unet_cfg = UNetConfig::from_json_file(&files.unet.config)?;
        let unet = UNet2DConditionModel::new(
            WeightSet::open(&files.unet.weights)?.var_builder(dtype, device),
            &unet_cfg,
        )
        .map_err(|e| weights_error(&files.unet, e))?;

        tick("VAE");
        let vae_cfg = VaeConfig::from_json_file(&files.vae.config)?;
        let vae_dtype = dtype;
        let vae = load_vae(&files.vae, &vae_cfg, vae_dtype, device)?;

        // TAESD is optional: a broken copy only costs the sharper previews.
        let preview_decoder = match &files.preview_decoder {
            Some(c) => match load_taesd(c, dtype, device) {
                Ok(d) => Some(d),
                Err(e) => {
                    tick(&format!("TAESD previews unavailable ({})", e.one_line()));
                    None
                }
            },
            None => None,
        };

        tick("scheduler");
        let scheduler_config = match &files.scheduler_config {
            Some(p) => SchedulerConfig::from_json_file(p)?,
            None => SchedulerConfig::default(),
        };

        let family = if unet_cfg.uses_text_time() || text_encoders.len() == 2 {
            ModelFamily::Sdxl
        } else if unet_cfg.use_linear_projection {
            ModelFamily::Sd2
        } else {
            ModelFamily::Sd1
        };
        if unet_cfg.uses_text_time() && text_encoders.len() != 2 {
            return Err(Error::BadConfig {
                path: files.unet.config.clone(),
                reason: "this U-Net needs SDXL conditioning but the model has no text_encoder_2"
                    .into(),
            });
        }
        let context_dim: usize = text_encoders
            .iter()
            .map(|t| t.model.config().hidden_size)
            .sum();
        let expected = unet_cfg.cross_attention_dim.expand(1)[0];
        if context_dim != expected {
            return Err(Error::BadConfig {
                path: files.unet.config.clone(),
                reason: format!(
                    "the U-Net expects {expected}-wide text embeddings but the text encoder(s) give {context_dim}"
                ),
            });
        }
        let force_zeros = files
            .index
            .force_zeros_for_empty_prompt
            .unwrap_or(family == ModelFamily::Sdxl);
        progress("done", 1.0);
        Ok(Self {
            files,
            family,
            device: device.clone(),
            dtype,
            unet,
            vae,
            vae_dtype,
            text_encoders,
            scheduler_config,
            force_zeros_for_empty_prompt: force_zeros,
            preview_decoder,
        })
    }

    /// The VAE's latent space, which decides the preview colours.
    pub fn latent_space(&self) -> LatentSpace {
        // SDXL's VAE is the one scaled by 0.13025; SD 1/2 share 0.18215.
        if self.family == ModelFamily::Sdxl
            || (self.vae.config().scaling_factor - 0.13025).abs() < 1e-4
        {
            LatentSpace::Sdxl
        } else {
            LatentSpace::Sd
        }
    }

    /// Pixels per latent pixel (8 for every SD VAE).
    pub fn vae_scale_factor(&self) -> usize {
        1 << self.vae.config().block_out_channels.len().saturating_sub(1)
    }

    /// The size the model was trained at: the U-Net's `sample_size` × the VAE factor.
    pub fn native_size(&self) -> u32 {
        let latent = self.unet.config().sample_size.unwrap_or(64);
        (latent * self.vae_scale_factor()) as u32
    }

    /// Load the VAE again in f32: the fallback when an f16 decode gives NaN
    /// (SDXL's VAE overflows in f16).
    pub fn load_vae_f32(&self) -> Result<AutoencoderKl> {
        load_vae(&self.files.vae, self.vae.config(), DType::F32, &self.device)
    }
}

fn load_vae(
    c: &ComponentFiles,
    cfg: &VaeConfig,
    dtype: DType,
    device: &Device,
) -> Result<AutoencoderKl> {
    AutoencoderKl::new(WeightSet::open(&c.weights)?.var_builder(dtype, device), cfg)
        .map_err(|e| weights_error(c, e))
}

fn load_taesd(c: &ComponentFiles, dtype: DType, device: &Device) -> Result<TinyDecoder> {
    let cfg = TinyDecoderConfig::from_json_file(&c.config)?;
    TinyDecoder::new(
        WeightSet::open(&c.weights)?.var_builder(dtype, device),
        &cfg,
    )
    .map_err(|e| weights_error(c, e))
}

fn load_encoder(
    c: &ComponentFiles,
    tokenizer_dir: &std::path::Path,
    with_projection: bool,
    dtype: DType,
    device: &Device,
) -> Result<TextEncoder> {
    let tokenizer = ClipTokenizer::from_dir(tokenizer_dir)?;
    let cfg = ClipTextConfig::from_json_file(&c.config)?;
    let model = ClipTextModel::new(
        WeightSet::open(&c.weights)?.var_builder(dtype, device),
        &cfg,
        with_projection,
    )
    .map_err(|e| weights_error(c, e))?;
    Ok(TextEncoder { tokenizer, model })
}
