//! Euler ancestral (`EulerAncestralDiscreteScheduler`): an Euler step to a
//! lower sigma, then fresh noise back up to the target level. The fresh
//! noise makes results depend on every step's random draw.

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig};
use super::euler::SigmaSchedule;
use super::ops::{check_step, scale};
use super::Scheduler;
use crate::error::Result;
use crate::sampling::rng::{randn_tensor, NoiseSource};

/// Ancestral Euler sampler.
pub(super) struct EulerAncestral {
    sched: SigmaSchedule,
    prediction: PredictionType,
}

impl EulerAncestral {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize) -> Self {
        // diffusers' ancestral Euler has no Karras option.
        EulerAncestral {
            sched: SigmaSchedule::new(cfg, steps, false),
            prediction: cfg.prediction_type,
        }
    }
}

impl Scheduler for EulerAncestral {
    fn timesteps(&self) -> &[f64] {
        &self.sched.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        self.sched.init_noise_sigma
    }

    fn scale_model_input(&self, sample: &Tensor, step: usize) -> Result<Tensor> {
        self.sched.scale_input(sample, step)
    }

    /// diffusers: `EulerAncestralDiscreteScheduler.step`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        check_step(step, self.sched.timesteps.len())?;
        let (x, out) = (sample.clone(), model_output.clone());
        let sigma_from = self.sched.sigmas[step];
        let sigma_to = self.sched.sigmas[step + 1];
        let x0 = self
            .sched
            .pred_original(self.prediction, &out, &x, sigma_from)?;

        // Split the target level into a deterministic part (sigma_down) and
        // the part re-added as noise (sigma_up), in f32 like diffusers.
        let (from2, to2) = (sigma_from * sigma_from, sigma_to * sigma_to);
        let sigma_up = (to2 * (from2 - to2) / from2).max(0.0).sqrt();
        let sigma_down = (to2 - sigma_up * sigma_up).max(0.0).sqrt();

        let derivative = ((&x - &x0)? / sigma_from as f64)?;
        let dt = sigma_down - sigma_from;
        let prev = (&x + scale(&derivative, dt as f64)?)?;
        // Drawn on every step, the last one included, to stay in step with
        // diffusers' generator.
        let fresh = randn_tensor(noise, x.dims(), x.device())?;
        let prev = (prev + scale(&fresh, sigma_up as f64)?)?;
        Ok((prev, x0))
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        self.sched.add_noise(original, noise, step)
    }
}
