//! What the multistep solvers (DPM-Solver++ and UniPC) share: diffusers'
//! `DPMSolverMultistepScheduler` / `UniPCMultistepScheduler` timestep and
//! sigma selection, and the variance-preserving view of a sigma.

use candle_core::Tensor;

use super::config::{BetaSchedule, PredictionType, SchedulerConfig, TimestepSpacing};
use super::ops::{lincomb, scale};
use super::schedule::{
    alphas_cumprod_for_sigmas, interp, karras_sigmas, log_sigmas, np_arange_down, np_linspace,
    sigma_table, sigma_to_t,
};
use crate::error::Result;

/// Integer timesteps and their sigmas (one extra, final sigma 0).
pub(super) struct MultistepSchedule {
    pub timesteps: Vec<f64>,
    pub sigmas: Vec<f32>,
}

impl MultistepSchedule {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize, karras: bool) -> Self {
        let t_train = cfg.num_train_timesteps;
        // diffusers: `DPMSolverMultistepScheduler.set_timesteps` (also
        // UniPC's; a deliberate copy: integer timesteps, steps + 1 points).
        let spaced: Vec<f64> = match cfg.timestep_spacing {
            // Both pick steps + 1 points and drop the final t = 0.
            TimestepSpacing::Linspace => np_linspace(0.0, (t_train - 1) as f64, steps + 1)
                .into_iter()
                .rev()
                .take(steps)
                .map(f64::round_ties_even)
                .collect(),
            TimestepSpacing::Leading => {
                let ratio = t_train / (steps + 1);
                (1..=steps)
                    .rev()
                    .map(|i| (i * ratio + cfg.steps_offset) as f64)
                    .collect()
            }
            TimestepSpacing::Trailing => {
                np_arange_down(t_train as f64, 0.0, -(t_train as f64 / steps as f64))
                    .into_iter()
                    .map(|t| t.round_ties_even() - 1.0)
                    .collect()
            }
        };

        let ac = alphas_cumprod_for_sigmas(cfg);
        let table = sigma_table(&ac);
        let (timesteps, sigmas): (Vec<f64>, Vec<f64>) = if karras {
            // Unlike Euler, the multistep solvers ramp over the whole trained range.
            let sigmas = karras_sigmas(table[0] as f64, table[t_train - 1] as f64, steps);
            let logs = log_sigmas(&table);
            let cosine = cfg.beta_schedule == BetaSchedule::SquaredcosCapV2;
            let ts = sigmas
                .iter()
                .map(|&s| {
                    let t = sigma_to_t(s, &logs);
                    // Rounded to integers, except for the cosine schedule whose
                    // fractional values diffusers then truncates to int64.
                    if cosine {
                        t.trunc()
                    } else {
                        t.round_ties_even()
                    }
                })
                .collect();
            (ts, sigmas)
        } else {
            let sigmas = spaced.iter().map(|&t| interp(t, &table)).collect();
            (spaced, sigmas)
        };
        let mut sigmas: Vec<f32> = sigmas.into_iter().map(|s| s as f32).collect();
        sigmas.push(0.0);
        MultistepSchedule { timesteps, sigmas }
    }

    /// `alpha_t * x0 + sigma_t * noise` at `step`.
    pub(super) fn add_noise(
        &self,
        original: &Tensor,
        noise: &Tensor,
        step: usize,
    ) -> Result<Tensor> {
        let (alpha, sigma) = alpha_sigma(self.sigmas[step]);
        let noise = noise.to_dtype(original.dtype())?;
        lincomb(original, alpha as f64, &noise, sigma as f64)
    }

    /// The network output converted to an x0 prediction at `step` (f32).
    pub(super) fn x0(
        &self,
        prediction: PredictionType,
        out: &Tensor,
        x: &Tensor,
        step: usize,
    ) -> Result<Tensor> {
        let (alpha, sigma) = alpha_sigma(self.sigmas[step]);
        Ok(match prediction {
            PredictionType::Epsilon => ((x - scale(out, sigma as f64)?)? / alpha as f64)?,
            PredictionType::VPrediction => lincomb(x, alpha as f64, out, -sigma as f64)?,
            PredictionType::Sample => out.clone(),
        })
    }

    /// Half log-SNR at `step` (index into `sigmas`); +inf at the final sigma 0.
    pub(super) fn lambda(&self, step: usize) -> f32 {
        let (a, s) = alpha_sigma(self.sigmas[step]);
        a.ln() - s.ln()
    }
}

/// `(alpha_t, sigma_t)` of the variance-preserving process at sigma `s`.
pub(super) fn alpha_sigma(s: f32) -> (f32, f32) {
    let alpha = 1.0 / (s * s + 1.0).sqrt();
    (alpha, s * alpha)
}
