//! Latent consistency model sampling (`LCMScheduler`, Luo et al. 2023):
//! each step jumps straight to a clean estimate via the consistency
//! function, then re-noises it to the next (much lower) level.

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig};
use super::ddim::split_prediction;
use super::ops::{alpha_add_noise, check_step, lincomb};
use super::schedule::alphas_cumprod_f32;
use super::Scheduler;
use crate::error::{Error, Result};
use crate::sampling::rng::{randn_tensor, NoiseSource};

/// LCM multistep sampler.
pub(super) struct Lcm {
    timesteps: Vec<f64>,
    int_timesteps: Vec<usize>,
    alphas_cumprod: Vec<f32>,
    prediction: PredictionType,
    clip: Option<f64>,
    timestep_scaling: f64,
}

impl Lcm {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self> {
        // The model was distilled on `original_inference_steps` evenly spaced
        // timesteps (k-1, 2k-1, ...); inference picks `steps` of those.
        let original = cfg.original_inference_steps;
        if steps > original {
            return Err(Error::InvalidParams(format!(
                "LCM can take at most {original} steps (the model's original_inference_steps), got {steps}"
            )));
        }
        let k = cfg.num_train_timesteps / original;
        let origin: Vec<usize> = (1..=original).rev().map(|i| i * k - 1).collect();
        // floor(linspace(0, len, steps, endpoint=False))
        let stride = origin.len() as f64 / steps as f64;
        let int_timesteps: Vec<usize> = (0..steps)
            .map(|i| origin[(i as f64 * stride).floor() as usize])
            .collect();
        Ok(Lcm {
            timesteps: int_timesteps.iter().map(|&t| t as f64).collect(),
            int_timesteps,
            alphas_cumprod: alphas_cumprod_f32(cfg),
            prediction: cfg.prediction_type,
            clip: cfg.clip_sample.then_some(cfg.clip_sample_range),
            timestep_scaling: cfg.timestep_scaling,
        })
    }

    /// `(c_skip, c_out)` of the consistency-model boundary condition.
    fn boundary_scalings(&self, t: usize) -> (f64, f64) {
        let sigma_data2 = 0.25; // sigma_data = 0.5
        let scaled = t as f64 * self.timestep_scaling;
        let c_skip = sigma_data2 / (scaled * scaled + sigma_data2);
        let c_out = scaled / (scaled * scaled + sigma_data2).sqrt();
        (c_skip, c_out)
    }
}

impl Scheduler for Lcm {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// diffusers: `LCMScheduler.step`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        let n = self.timesteps.len();
        let (x, out) = (sample.clone(), model_output.clone());
        let t = self.int_timesteps[step];
        let (mut x0, _) = split_prediction(self.prediction, &out, &x, self.alphas_cumprod[t])?;
        if let Some(r) = self.clip {
            x0 = x0.clamp(-r, r)?;
        }
        let (c_skip, c_out) = self.boundary_scalings(t);
        let denoised = lincomb(&x0, c_out, &x, c_skip)?;
        let prev = if step + 1 < n {
            let alpha_prev = self.alphas_cumprod[self.int_timesteps[step + 1]];
            let fresh = randn_tensor(noise, x.dims(), x.device())?;
            lincomb(
                &denoised,
                alpha_prev.sqrt() as f64,
                &fresh,
                (1.0 - alpha_prev).sqrt() as f64,
            )?
        } else {
            denoised.clone()
        };
        Ok((prev, denoised))
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.timesteps.len())?;
        alpha_add_noise(
            self.alphas_cumprod[self.int_timesteps[step]],
            original,
            noise,
        )
    }
}
