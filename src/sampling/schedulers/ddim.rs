//! DDIM with eta = 0 (`DDIMScheduler`): the deterministic non-Markovian
//! sampler of Song et al. 2020, stepping directly in alpha space.

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use super::ops::{alpha_add_noise, check_step, lincomb};
use super::schedule::{alphas_cumprod_f32, np_arange_down, np_linspace};
use super::Scheduler;
use crate::error::Result;
use crate::sampling::rng::NoiseSource;

/// Integer timesteps of DDIM-style schedulers (DDIM, and DDPM-like ones).
/// diffusers: `DDIMScheduler.set_timesteps` (a deliberate copy: integer
/// timesteps, `steps` points).
pub(super) fn ddim_timesteps(cfg: &SchedulerConfig, steps: usize) -> Vec<usize> {
    let t_train = cfg.num_train_timesteps;
    match cfg.timestep_spacing {
        TimestepSpacing::Linspace => np_linspace(0.0, (t_train - 1) as f64, steps)
            .into_iter()
            .rev()
            .map(|t| t.round_ties_even() as usize)
            .collect(),
        TimestepSpacing::Leading => {
            let ratio = t_train / steps;
            (0..steps)
                .rev()
                .map(|i| i * ratio + cfg.steps_offset)
                .collect()
        }
        TimestepSpacing::Trailing => {
            np_arange_down(t_train as f64, 0.0, -(t_train as f64 / steps as f64))
                .into_iter()
                .map(|t| (t.round_ties_even() as usize).saturating_sub(1))
                .collect()
        }
    }
}

/// `(x0, eps)` from a network output in alpha parameterisation, f32.
pub(super) fn split_prediction(
    prediction: PredictionType,
    model_output: &Tensor,
    sample: &Tensor,
    alpha_prod: f32,
) -> Result<(Tensor, Tensor)> {
    let (a, b) = (alpha_prod.sqrt() as f64, (1.0 - alpha_prod).sqrt() as f64);
    Ok(match prediction {
        PredictionType::Epsilon => {
            let x0 = ((sample - model_output.affine(b, 0.0)?)? / a)?;
            (x0, model_output.clone())
        }
        PredictionType::Sample => {
            let eps = ((sample - model_output.affine(a, 0.0)?)? / b)?;
            (model_output.clone(), eps)
        }
        PredictionType::VPrediction => (
            lincomb(sample, a, model_output, -b)?,
            lincomb(model_output, a, sample, b)?,
        ),
    })
}

/// Deterministic DDIM sampler.
pub(super) struct Ddim {
    timesteps: Vec<f64>,
    int_timesteps: Vec<usize>,
    alphas_cumprod: Vec<f32>,
    final_alpha_cumprod: f32,
    /// diffusers steps back by `T / steps` whatever the spacing.
    stride: usize,
    prediction: PredictionType,
    clip: Option<f64>,
}

impl Ddim {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize) -> Self {
        let alphas_cumprod = alphas_cumprod_f32(cfg);
        let int_timesteps: Vec<usize> = ddim_timesteps(cfg, steps)
            .into_iter()
            .map(|t| t.min(cfg.num_train_timesteps - 1))
            .collect();
        Ddim {
            timesteps: int_timesteps.iter().map(|&t| t as f64).collect(),
            int_timesteps,
            final_alpha_cumprod: if cfg.set_alpha_to_one {
                1.0
            } else {
                alphas_cumprod[0]
            },
            alphas_cumprod,
            stride: cfg.num_train_timesteps / steps,
            prediction: cfg.prediction_type,
            clip: cfg.clip_sample.then_some(cfg.clip_sample_range),
        }
    }
}

impl Scheduler for Ddim {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// diffusers: `DDIMScheduler.step`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        check_step(step, self.timesteps.len())?;
        let (x, out) = (sample.clone(), model_output.clone());
        let t = self.int_timesteps[step];
        let alpha_prod = self.alphas_cumprod[t];
        let alpha_prev = match t.checked_sub(self.stride) {
            Some(prev) => self.alphas_cumprod[prev],
            None => self.final_alpha_cumprod,
        };
        let (mut x0, eps) = split_prediction(self.prediction, &out, &x, alpha_prod)?;
        if let Some(r) = self.clip {
            x0 = x0.clamp(-r, r)?;
        }
        // eta = 0: no variance term, the direction is the full remaining noise.
        let prev = lincomb(
            &x0,
            alpha_prev.sqrt() as f64,
            &eps,
            (1.0 - alpha_prev).sqrt() as f64,
        )?;
        Ok((prev, x0))
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
