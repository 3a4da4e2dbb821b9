//! A loaded Stable Diffusion pipeline: every network, its tokenizer(s) and
//! its scheduler config, on one device, ready to generate.

use std::path::PathBuf;

use candle_core::{DType, Device};

use crate::error::{Error, Result};
use crate::models::config_file::load_config;
use crate::models::files::{ComponentFiles, DiffusersFiles, ModelFiles, ModelLayout};
use crate::models::single_file;
use crate::models::tokenizer::{ClipTokenizer, Pad};
use crate::models::weights::WeightSource;
use crate::networks::clip::{ClipTextConfig, ClipTextModel};
use crate::networks::taesd::{TinyDecoder, TinyDecoderConfig};
use crate::networks::unet::{UNet2DConditionModel, UNetConfig};
use crate::networks::vae::{AutoencoderKl, VaeConfig};
use crate::networks::vae::{LatentSpace, LatentToRgb};
use crate::sampling::schedulers::{PredictionType, SchedulerConfig};

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

impl ModelFamily {
    /// How people name it: "SD 1.x", "SD 2.x", "SDXL".
    pub fn label(self) -> &'static str {
        match self {
            ModelFamily::Sd1 => "SD 1.x",
            ModelFamily::Sd2 => "SD 2.x",
            ModelFamily::Sdxl => "SDXL",
        }
    }
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
    /// Where the VAE's tensors are (for the f32 reload).
    pub vae_weights: WeightSource,
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
    /// The linear latent→RGB map of the step previews: the VAE's own when it
    /// ships one, else SD's published map for its latent space.
    pub preview_map: LatentToRgb,
}

fn weights_error(w: &WeightSource, e: impl std::fmt::Display) -> Error {
    Error::bad_weights(w.path(), e.to_string())
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
        let parts = Parts::of(&files)?;
        let steps = parts.encoders.len() as f32 + 3.0;
        let mut done = 0.0;
        let mut tick = |what: &str| {
            progress(what, done / steps);
            done += 1.0;
        };

        let mut text_encoders = Vec::with_capacity(parts.encoders.len());
        for (i, e) in parts.encoders.iter().enumerate() {
            tick(if i == 0 {
                "text encoder"
            } else {
                "second text encoder"
            });
            let model = ClipTextModel::new(
                e.weights.var_builder(dtype, device)?,
                &e.config,
                e.with_projection,
            )
            .map_err(|err| weights_error(&e.weights, err))?;
            text_encoders.push(TextEncoder {
                tokenizer: e.tokenizer()?,
                model,
            });
        }

        tick("U-Net");
        let (unet_cfg, unet_weights) = &parts.unet;
        let mut unet =
            UNet2DConditionModel::new(unet_weights.var_builder(dtype, device)?, unet_cfg)
                .map_err(|e| weights_error(unet_weights, e))?;
        let mut scheduler_config = parts.scheduler.clone();
        if parts.detect_v_prediction {
            // SD 2.x single files: 768-v or 512-base? Only running it tells.
            let v = single_file::predicts_v(&unet, dtype, device)?;
            scheduler_config.prediction_type = if v {
                PredictionType::VPrediction
            } else {
                PredictionType::Epsilon
            };
            unet.set_sample_size(if v { 96 } else { 64 });
        }

        tick("VAE");
        // SDXL's own VAE overflows in f16; on f16 devices the retrained
        // fp16-fix VAE is used when installed (else the f32 fallback decode).
        let fp16_fix = (dtype == DType::F16 && unet.config().uses_text_time())
            .then(fp16_fix_vae)
            .flatten();
        let (vae_cfg, vae_weights) = fp16_fix.as_ref().unwrap_or(&parts.vae);
        let vae_dtype = dtype;
        let vae = load_vae(vae_weights, vae_cfg, vae_dtype, device)?;

        // TAESD is optional: a broken copy only costs the sharper previews.
        // It is trained on SD's latent space, so a VAE with a preview map of
        // its own (a latent space of its own) never gets it.
        let taesd = files
            .preview_decoder
            .as_ref()
            .filter(|_| parts.preview_map.is_none());
        let preview_decoder = match taesd {
            Some(c) => match load_taesd(c, dtype, device) {
                Ok(d) => Some(d),
                Err(e) => {
                    tick(&format!("TAESD previews unavailable ({})", e.one_line()));
                    None
                }
            },
            None => None,
        };
        let unet_cfg = unet.config().clone();
        let config_path = parts.config_path.clone();
        let vae_weights = vae_weights.clone();

        let family = if unet_cfg.uses_text_time() || text_encoders.len() == 2 {
            ModelFamily::Sdxl
        } else if unet_cfg.use_linear_projection {
            ModelFamily::Sd2
        } else {
            ModelFamily::Sd1
        };
        if unet_cfg.uses_text_time() && text_encoders.len() != 2 {
            return Err(Error::BadConfig {
                path: config_path,
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
                path: config_path,
                reason: format!(
                    "the U-Net expects {expected}-wide text embeddings but the text encoder(s) give {context_dim}"
                ),
            });
        }
        let force_zeros = parts
            .force_zeros_for_empty_prompt
            .unwrap_or(family == ModelFamily::Sdxl);
        let preview_map = parts
            .preview_map
            .unwrap_or_else(|| latent_space(family, vae.config()).latent_to_rgb());
        progress("done", 1.0);
        Ok(Self {
            files,
            family,
            device: device.clone(),
            dtype,
            unet,
            vae,
            vae_weights,
            vae_dtype,
            text_encoders,
            scheduler_config,
            force_zeros_for_empty_prompt: force_zeros,
            preview_decoder,
            preview_map,
        })
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
        load_vae(
            &self.vae_weights,
            self.vae.config(),
            DType::F32,
            &self.device,
        )
    }
}

/// Which of SD's latent spaces a VAE uses, which decides the published
/// preview colours: SDXL's VAE is the one scaled by 0.13025; SD 1/2 share 0.18215.
fn latent_space(family: ModelFamily, vae: &VaeConfig) -> LatentSpace {
    if family == ModelFamily::Sdxl || (vae.scaling_factor - 0.13025).abs() < 1e-4 {
        LatentSpace::Sdxl
    } else {
        LatentSpace::Sd
    }
}

/// `madebyollin/sdxl-vae-fp16-fix` from the hub cache, if installed.
fn fp16_fix_vae() -> Option<(VaeConfig, WeightSource)> {
    let dir = super::install::installed(super::catalog::find("sdxl-vae-fp16-fix")?)?;
    let config = load_config::<VaeConfig>(&dir.join("config.json")).ok()?;
    let weights = WeightSource::Files(vec![dir.join("diffusion_pytorch_model.safetensors")]);
    Some((config, weights))
}

fn load_vae(
    weights: &WeightSource,
    cfg: &VaeConfig,
    dtype: DType,
    device: &Device,
) -> Result<AutoencoderKl> {
    AutoencoderKl::new(weights.var_builder(dtype, device)?, cfg)
        .map_err(|e| weights_error(weights, e))
}

fn load_taesd(c: &ComponentFiles, dtype: DType, device: &Device) -> Result<TinyDecoder> {
    let cfg = load_config::<TinyDecoderConfig>(&c.config)?;
    let weights = WeightSource::Files(c.weights.clone());
    TinyDecoder::new(weights.var_builder(dtype, device)?, &cfg)
        .map_err(|e| weights_error(&weights, e))
}

/// A text encoder before loading: config, weights and its tokenizer.
struct EncoderParts {
    config: ClipTextConfig,
    with_projection: bool,
    weights: WeightSource,
    tokenizer: TokenizerSource,
}

/// A diffusers tokenizer folder, or (single files have none) the bundled
/// CLIP vocabulary with the family's pad token.
enum TokenizerSource {
    Folder(PathBuf),
    Bundled(Pad),
}

impl EncoderParts {
    fn tokenizer(&self) -> Result<ClipTokenizer> {
        match &self.tokenizer {
            TokenizerSource::Folder(dir) => ClipTokenizer::from_dir(dir),
            TokenizerSource::Bundled(pad) => ClipTokenizer::bundled(*pad),
        }
    }
}

/// Configs and weight sources of every network, whatever the file layout.
struct Parts {
    encoders: Vec<EncoderParts>,
    unet: (UNetConfig, WeightSource),
    vae: (VaeConfig, WeightSource),
    scheduler: SchedulerConfig,
    force_zeros_for_empty_prompt: Option<bool>,
    /// Learn v- or noise-prediction by running the U-Net (SD 2.x single files).
    detect_v_prediction: bool,
    /// The VAE's own preview map (`vae/latent_preview.json`), if it ships one.
    preview_map: Option<LatentToRgb>,
    /// The file to name when the parts disagree with each other.
    config_path: PathBuf,
}

impl Parts {
    fn of(files: &ModelFiles) -> Result<Self> {
        match &files.layout {
            ModelLayout::Diffusers(d) => Self::diffusers(d),
            ModelLayout::SingleFile { path, .. } => Self::single_file(path),
        }
    }

    fn diffusers(d: &DiffusersFiles) -> Result<Self> {
        let encoder = |c: &ComponentFiles, tok: &PathBuf, with_projection: bool| {
            Ok::<_, Error>(EncoderParts {
                config: load_config::<ClipTextConfig>(&c.config)?,
                with_projection,
                weights: WeightSource::Files(c.weights.clone()),
                tokenizer: TokenizerSource::Folder(tok.clone()),
            })
        };
        let mut encoders = vec![encoder(&d.text_encoder, &d.tokenizer, false)?];
        if let (Some(te2), Some(tok2)) = (&d.text_encoder_2, &d.tokenizer_2) {
            encoders.push(encoder(te2, tok2, true)?);
        }
        Ok(Self {
            encoders,
            unet: (
                load_config::<UNetConfig>(&d.unet.config)?,
                WeightSource::Files(d.unet.weights.clone()),
            ),
            vae: (
                load_config::<VaeConfig>(&d.vae.config)?,
                WeightSource::Files(d.vae.weights.clone()),
            ),
            scheduler: match &d.scheduler_config {
                Some(p) => SchedulerConfig::from_json_file(p)?,
                None => SchedulerConfig::default(),
            },
            force_zeros_for_empty_prompt: d.index.force_zeros_for_empty_prompt,
            detect_v_prediction: false,
            preview_map: match d.vae.config.parent() {
                Some(dir) => super::preview_map::read(dir)?,
                None => None,
            },
            config_path: d.unet.config.clone(),
        })
    }

    fn single_file(path: &std::path::Path) -> Result<Self> {
        let parts = single_file::open(path)?;
        Ok(Self {
            encoders: parts
                .text_encoders
                .into_iter()
                .map(|e| EncoderParts {
                    config: e.config,
                    with_projection: e.with_projection,
                    weights: e.weights,
                    tokenizer: TokenizerSource::Bundled(e.pad),
                })
                .collect(),
            unet: parts.unet,
            vae: parts.vae,
            scheduler: parts.scheduler,
            force_zeros_for_empty_prompt: None,
            detect_v_prediction: parts.family == ModelFamily::Sd2,
            preview_map: None,
            config_path: path.to_path_buf(),
        })
    }
}
