//! DPM-Solver++ 2M (`DPMSolverMultistepScheduler`, `algorithm_type =
//! "dpmsolver++"`, `solver_order = 2`, midpoint, `lower_order_final`): a
//! second-order multistep solver on the data prediction, reusing the previous
//! step's x0 estimate instead of a second network call.

use candle_core::Tensor;

use super::config::{BetaSchedule, PredictionType, SchedulerConfig, TimestepSpacing};
use super::ops::{check_step, f32, like, lincomb, scale};
use super::schedule::{
    alphas_cumprod_f32, interp, karras_sigmas, log_sigmas, np_arange_down, np_linspace,
    sigma_table, sigma_to_t,
};
use super::{Scheduler, StepOutput};
use crate::diffusion::rng::NoiseSource;
use crate::error::Result;

/// DPM-Solver++ 2M, optionally on the Karras sigma ramp.
pub(super) struct DpmPp2M {
    timesteps: Vec<f64>,
    /// One more than the steps; the last is 0 (`final_sigmas_type = "zero"`).
    sigmas: Vec<f32>,
    prediction: PredictionType,
    /// x0 estimate of the previous step, and the step it belongs to.
    previous: Option<(usize, Tensor)>,
}

/// `(alpha_t, sigma_t)` of the variance-preserving process at sigma `s`.
fn alpha_sigma(s: f32) -> (f32, f32) {
    let alpha = 1.0 / (s * s + 1.0).sqrt();
    (alpha, s * alpha)
}

/// Half log-SNR `lambda = log(alpha) - log(sigma)`; +inf at sigma 0.
fn lambda(s: f32) -> f32 {
    let (a, sg) = alpha_sigma(s);
    a.ln() - sg.ln()
}

impl DpmPp2M {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize, karras: bool) -> Self {
        let t_train = cfg.num_train_timesteps;
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

        let mut ac = alphas_cumprod_f32(cfg);
        if cfg.rescale_betas_zero_snr {
            *ac.last_mut().expect("non-empty") = 2f32.powi(-24);
        }
        let table = sigma_table(&ac);
        let (timesteps, sigmas): (Vec<f64>, Vec<f64>) = if karras {
            // Unlike Euler, DPM++ ramps over the whole trained range.
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
        DpmPp2M {
            timesteps,
            sigmas,
            prediction: cfg.prediction_type,
            previous: None,
        }
    }

    /// The network output converted to an x0 prediction (f32).
    fn x0(&self, out: &Tensor, x: &Tensor, step: usize) -> Result<Tensor> {
        let (alpha, sigma) = alpha_sigma(self.sigmas[step]);
        Ok(match self.prediction {
            PredictionType::Epsilon => ((x - scale(out, sigma as f64)?)? / alpha as f64)?,
            PredictionType::VPrediction => lincomb(x, alpha as f64, out, -sigma as f64)?,
            PredictionType::Sample => out.clone(),
        })
    }
}

impl Scheduler for DpmPp2M {
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    fn scale_model_input(&self, sample: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.timesteps.len())?;
        Ok(sample.clone())
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<StepOutput> {
        let n = self.timesteps.len();
        check_step(step, n)?;
        let dtype = sample.dtype();
        let (x, out) = (f32(sample)?, f32(model_output)?);
        let x0 = self.x0(&out, &x, step)?;

        let (s0, s_next) = (self.sigmas[step], self.sigmas[step + 1]);
        let (alpha_t, sigma_t) = alpha_sigma(s_next);
        let (_, sigma_s0) = alpha_sigma(s0);
        let h = lambda(s_next) - lambda(s0);
        // alpha_t * (exp(-h) - 1); at the final sigma 0, h = inf and this is -1.
        let phi = alpha_t * ((-h).exp() - 1.0);
        let ratio = (sigma_t / sigma_s0) as f64;

        // The final step is first order (diffusers' lower_order_final with a
        // zero final sigma); so is the first step, which has no history.
        let history = match &self.previous {
            Some((prev_step, m1)) if *prev_step + 1 == step && step + 1 < n => Some(m1),
            _ => None,
        };
        let prev = match history {
            None => lincomb(&x, ratio, &x0, -phi as f64)?,
            Some(m1) => {
                let h0 = lambda(s0) - lambda(self.sigmas[step - 1]);
                let r0 = h0 / h;
                let d1 = scale(&(&x0 - m1)?, (1.0 / r0) as f64)?;
                let base = lincomb(&x, ratio, &x0, -phi as f64)?;
                (base - scale(&d1, (0.5 * phi) as f64)?)?
            }
        };
        let pred_original = like(x0.clone(), dtype)?;
        self.previous = Some((step, x0));
        Ok(StepOutput {
            prev_sample: like(prev, dtype)?,
            pred_original,
        })
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.timesteps.len())?;
        let (alpha, sigma) = alpha_sigma(self.sigmas[step]);
        let noise = noise.to_dtype(original.dtype())?;
        lincomb(original, alpha as f64, &noise, sigma as f64)
    }
}
