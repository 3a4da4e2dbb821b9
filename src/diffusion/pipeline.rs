//! The denoising loop: from a prompt (and optionally a start image) to an
//! image, reporting a preview of the predicted clean image after every step.
//!
//! Forward process: an image dissolves into noise, `x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε`.
//! Reverse process (this file): start from noise (or from a start image noised
//! to the level `strength` picks) and let the U-Net repair it step by step,
//! guided by the prompt through classifier-free guidance.

use std::time::{Duration, Instant};

use candle_core::{DType, Tensor};
use image::RgbImage;

use crate::diffusion::image_io::{fit_to, rgb_to_tensor, size_for_aspect, tensor_to_rgb};
use crate::diffusion::params::GenerationParams;
use crate::diffusion::preview::{latent_preview, PreviewImage};
use crate::diffusion::text::encode_prompts;
use crate::error::{Error, Result};
use crate::models::stable_diffusion::StableDiffusion;
use crate::networks::vae::LatentToRgb;
use crate::sampling::rng::{noise_source, randn_tensor};
use crate::sampling::schedulers::{build_scheduler, img2img_start_step};

/// Progress of one denoising step, sent as soon as the step is done.
#[derive(Debug, Clone)]
pub struct StepProgress {
    /// 1-based index of the step just finished.
    pub step: usize,
    /// Steps this job runs (fewer than `params.steps` for img2img).
    pub total: usize,
    /// The predicted clean image after this step, at latent resolution.
    pub preview: PreviewImage,
    /// Time since the job started denoising.
    pub elapsed: Duration,
}

/// A finished image and everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The final image, decoded by the full VAE.
    pub image: RgbImage,
    /// The parameters with every default filled in (size, steps, ...).
    pub params: GenerationParams,
    /// One preview per step, in order (the emergence timeline).
    pub previews: Vec<PreviewImage>,
    /// Prompt length in tokens.
    pub token_count: usize,
    /// Wall time of text encoding + denoising + decoding.
    pub duration: Duration,
}

/// Called after every step; return `false` to cancel the job.
pub type StepCallback<'a> = &'a mut dyn FnMut(&StepProgress) -> bool;

/// Fill in the size: explicit, else the start image's aspect at the model's
/// native size, else the native square.
pub fn resolve_size(
    model: &StableDiffusion,
    params: &GenerationParams,
    init: Option<&RgbImage>,
) -> (u32, u32) {
    let native = model.native_size();
    match (params.width, params.height, init) {
        (Some(w), Some(h), _) => (w, h),
        (None, None, Some(img)) => size_for_aspect(img.width(), img.height(), native),
        (w, h, _) => (w.unwrap_or(native), h.unwrap_or(native)),
    }
}

/// Generate one image. `init` makes it img2img (unless `strength` is 1, which
/// is plain txt2img from the same seed). `on_step` can cancel between steps.
pub fn generate(
    model: &StableDiffusion,
    params: &GenerationParams,
    init: Option<&RgbImage>,
    on_step: StepCallback,
) -> Result<Generated> {
    let started = Instant::now();
    let mut params = params.clone();
    let (width, height) = resolve_size(model, &params, init);
    params.width = Some(width);
    params.height = Some(height);
    params.validate()?;
    let factor = model.vae_scale_factor() as u32;
    if width % factor != 0 || height % factor != 0 {
        return Err(Error::InvalidParams(format!(
            "width and height must be multiples of {factor} for this model"
        )));
    }

    let guidance = params.uses_guidance();
    let cond = encode_prompts(
        model,
        &params.prompt,
        &params.negative_prompt,
        guidance,
        (width, height),
    )?;

    let device = &model.device;
    let mut scheduler = build_scheduler(params.sampler, &model.scheduler_config, params.steps)?;
    let mut rng = noise_source(params.rng, params.seed);
    let latent_channels = model.vae.config().latent_channels;
    let shape = [
        1,
        latent_channels,
        (height / factor) as usize,
        (width / factor) as usize,
    ];

    let init = init.filter(|_| params.strength < 1.0);
    let (mut latents, start) = match init {
        None => {
            let noise = randn_tensor(rng.as_mut(), &shape, device)?;
            ((noise * scheduler.init_noise_sigma())?, 0)
        }
        Some(img) => {
            let x0 = encode_image(model, &fit_to(img, width, height))?;
            let start = img2img_start_step(params.steps, params.strength);
            let noise = randn_tensor(rng.as_mut(), &shape, device)?;
            if start >= params.steps {
                (x0, start)
            } else {
                (scheduler.add_noise(&x0, &noise, start)?, start)
            }
        }
    };

    let timesteps = scheduler.timesteps().to_vec();
    let total = params.steps - start;
    let mut previews = Vec::with_capacity(total);
    let map = model.preview_map;
    for (step, &timestep) in timesteps.iter().enumerate().skip(start) {
        let model_in = if guidance {
            Tensor::cat(&[&latents, &latents], 0)?
        } else {
            latents.clone()
        };
        let model_in = scheduler
            .scale_model_input(&model_in, step)?
            .to_dtype(model.dtype)?;
        let pred = model
            .unet
            .forward(&model_in, timestep, &cond.context, cond.text_time.as_ref())?
            .to_dtype(DType::F32)?;
        let pred = if guidance {
            let uncond = pred.get(0)?.unsqueeze(0)?;
            let text = pred.get(1)?.unsqueeze(0)?;
            (&uncond + ((text - &uncond)? * params.cfg_scale)?)?
        } else {
            pred
        };
        let out = scheduler.step(&pred, step, &latents, rng.as_mut())?;
        latents = out.prev_sample;
        let progress = StepProgress {
            step: step - start + 1,
            total,
            preview: step_preview(model, &out.pred_original, &map)?,
            elapsed: started.elapsed(),
        };
        let keep_going = on_step(&progress);
        previews.push(progress.preview);
        if !keep_going {
            return Err(Error::Cancelled);
        }
    }

    let image = decode_latents(model, &latents)?;
    Ok(Generated {
        image,
        params,
        previews,
        token_count: cond.token_count,
        duration: started.elapsed(),
    })
}

/// The preview of a predicted clean latent: TAESD when installed, else the
/// linear latent→RGB map (microseconds, at latent resolution).
fn step_preview(model: &StableDiffusion, x0: &Tensor, map: &LatentToRgb) -> Result<PreviewImage> {
    match &model.preview_decoder {
        Some(taesd) => {
            let rgb = tensor_to_rgb(&taesd.decode(&x0.to_dtype(model.dtype)?)?)?;
            let (width, height) = rgb.dimensions();
            let rgba = image::DynamicImage::ImageRgb8(rgb).to_rgba8().into_raw();
            Ok(PreviewImage {
                width,
                height,
                rgba,
            })
        }
        None => latent_preview(x0, map),
    }
}

/// VAE-encode a start image to scaled latents, deterministically: the mean
/// of the latent distribution, not a sample.
pub fn encode_image(model: &StableDiffusion, img: &RgbImage) -> Result<Tensor> {
    let cfg = model.vae.config();
    let x = rgb_to_tensor(img, &model.device)?.to_dtype(model.vae_dtype)?;
    let mean = model.vae.encode(&x)?.mean.to_dtype(DType::F32)?;
    let shifted = (mean - cfg.shift_factor.unwrap_or(0.0))?;
    Ok((shifted * cfg.scaling_factor)?)
}

/// Decode scaled latents with the full VAE. An f16 decode that overflows to
/// NaN (SDXL's VAE is known to) is redone in f32.
fn decode_latents(model: &StableDiffusion, latents: &Tensor) -> Result<RgbImage> {
    let cfg = model.vae.config();
    let z = ((latents / cfg.scaling_factor)? + cfg.shift_factor.unwrap_or(0.0))?;
    let image = model.vae.decode(&z.to_dtype(model.vae_dtype)?)?;
    let image = if model.vae_dtype != DType::F32 && has_non_finite(&image)? {
        let vae = model.load_vae_f32()?;
        vae.decode(&z.to_dtype(DType::F32)?)?
    } else {
        image
    };
    if has_non_finite(&image)? {
        return Err(Error::NonFinite(
            "the decoded image contains NaN; the model weights may be corrupt".into(),
        ));
    }
    tensor_to_rgb(&image)
}

fn has_non_finite(t: &Tensor) -> Result<bool> {
    let sum = t
        .to_dtype(DType::F32)?
        .abs()?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(!sum.is_finite())
}
