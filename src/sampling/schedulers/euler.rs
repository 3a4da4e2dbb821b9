//! Euler (`EulerDiscreteScheduler`): the deterministic first-order ODE step
//! in sigma space (Karras et al. 2022, algorithm 2 without churn).

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use super::ops::{check_step, scale};
use super::schedule::{
    alphas_cumprod_for_sigmas, interp, karras_sigmas, log_sigmas, np_arange_down, sigma_table,
    sigma_to_t,
};
use super::Scheduler;
use crate::error::Result;
use crate::sampling::rng::NoiseSource;

/// Timesteps and sigmas (one more than steps, ending in 0) of the Euler
/// family, as `EulerDiscreteScheduler.set_timesteps` picks them.
pub(super) struct SigmaSchedule {
    pub timesteps: Vec<f64>,
    pub sigmas: Vec<f32>,
    pub init_noise_sigma: f64,
}

impl SigmaSchedule {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize, karras: bool) -> Self {
        let t_train = cfg.num_train_timesteps;
        // diffusers: `EulerDiscreteScheduler.set_timesteps` (a deliberate
        // copy: Euler keeps timesteps as float32, linspace ones fractional).
        let timesteps: Vec<f32> = match cfg.timestep_spacing {
            TimestepSpacing::Linspace => {
                let step = (t_train - 1) as f64 / (steps.max(2) - 1) as f64;
                let mut v: Vec<f32> = (0..steps).map(|i| (i as f64 * step) as f32).collect();
                if steps > 1 {
                    v[steps - 1] = (t_train - 1) as f32;
                }
                v.reverse();
                v
            }
            TimestepSpacing::Leading => {
                let ratio = t_train / steps;
                (0..steps)
                    .rev()
                    .map(|i| (i * ratio + cfg.steps_offset) as f32)
                    .collect()
            }
            TimestepSpacing::Trailing => {
                np_arange_down(t_train as f64, 0.0, -(t_train as f64 / steps as f64))
                    .into_iter()
                    .map(|t| t.round_ties_even() as f32 - 1.0)
                    .collect()
            }
        };

        let ac = alphas_cumprod_for_sigmas(cfg);
        let table = sigma_table(&ac);
        let mut sigmas: Vec<f64> = timesteps
            .iter()
            .map(|&t| interp(t as f64, &table))
            .collect();
        let mut timesteps: Vec<f64> = timesteps.into_iter().map(f64::from).collect();
        if karras {
            let (lo, hi) = (sigmas[sigmas.len() - 1], sigmas[0]);
            sigmas = karras_sigmas(lo, hi, steps);
            let logs = log_sigmas(&table);
            // The model is asked at the (fractional) timestep of each new sigma.
            timesteps = sigmas
                .iter()
                .map(|&s| sigma_to_t(s, &logs) as f32 as f64)
                .collect();
        }
        let mut sigmas: Vec<f32> = sigmas.into_iter().map(|s| s as f32).collect();
        sigmas.push(0.0);

        let max = sigmas.iter().copied().fold(0.0f32, f32::max);
        // "leading" schedules never reach the top sigma, so the start noise is
        // scaled as if the latent were already at sigma_max with unit signal.
        let init_noise_sigma = match cfg.timestep_spacing {
            TimestepSpacing::Leading => (max * max + 1.0).sqrt() as f64,
            _ => max as f64,
        };
        SigmaSchedule {
            timesteps,
            sigmas,
            init_noise_sigma,
        }
    }

    /// `sample / sqrt(sigma² + 1)`: brings a sigma-space sample to unit variance.
    pub(super) fn scale_input(&self, sample: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.timesteps.len())?;
        let s = self.sigmas[step];
        Ok(sample.affine(1.0 / (s * s + 1.0).sqrt() as f64, 0.0)?)
    }

    /// `x0 + noise * sigma`: the variance-exploding forward process.
    pub(super) fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step: usize,
    ) -> Result<Tensor> {
        check_step(step, self.timesteps.len())?;
        let sigma = self.sigmas[step] as f64;
        Ok((original + noise.to_dtype(original.dtype())?.affine(sigma, 0.0)?)?)
    }

    /// The predicted clean latent, in f32.
    pub(super) fn pred_original(
        &self,
        prediction: PredictionType,
        model_output: &Tensor,
        sample: &Tensor,
        sigma: f32,
    ) -> Result<Tensor> {
        Ok(match prediction {
            PredictionType::Epsilon => (sample - scale(model_output, sigma as f64)?)?,
            PredictionType::VPrediction => {
                let c_out = -sigma / (sigma * sigma + 1.0).sqrt();
                let c_skip = sigma * sigma + 1.0;
                (scale(model_output, c_out as f64)? + sample.affine(1.0 / c_skip as f64, 0.0)?)?
            }
            PredictionType::Sample => model_output.clone(),
        })
    }
}

/// Deterministic Euler sampler.
pub(super) struct Euler {
    sched: SigmaSchedule,
    prediction: PredictionType,
}

impl Euler {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize) -> Self {
        Euler {
            sched: SigmaSchedule::new(cfg, steps, cfg.use_karras_sigmas),
            prediction: cfg.prediction_type,
        }
    }
}

impl Scheduler for Euler {
    fn timesteps(&self) -> &[f64] {
        &self.sched.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        self.sched.init_noise_sigma
    }

    fn scale_model_input(&self, sample: &Tensor, step: usize) -> Result<Tensor> {
        self.sched.scale_input(sample, step)
    }

    /// diffusers: `EulerDiscreteScheduler.step`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        check_step(step, self.sched.timesteps.len())?;
        let (x, out) = (sample.clone(), model_output.clone());
        let sigma = self.sched.sigmas[step];
        let x0 = self.sched.pred_original(self.prediction, &out, &x, sigma)?;
        let derivative = ((&x - &x0)? / sigma as f64)?;
        let dt = self.sched.sigmas[step + 1] - sigma;
        let prev = (&x + scale(&derivative, dt as f64)?)?;
        Ok((prev, x0))
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        self.sched.add_noise(original, noise, step)
    }
}
