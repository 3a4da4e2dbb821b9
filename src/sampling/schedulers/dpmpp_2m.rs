//! DPM-Solver++ 2M (`DPMSolverMultistepScheduler`, `algorithm_type =
//! "dpmsolver++"`, `solver_order = 2`, midpoint, `lower_order_final`): a
//! second-order multistep solver on the data prediction, reusing the previous
//! step's x0 estimate instead of a second network call.

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig};
use super::multistep::{alpha_sigma, MultistepSchedule};
use super::ops::{check_step, lincomb, scale};
use super::Scheduler;
use crate::error::Result;
use crate::sampling::rng::NoiseSource;

/// DPM-Solver++ 2M, optionally on the Karras sigma ramp.
pub(super) struct DpmPp2M {
    sched: MultistepSchedule,
    prediction: PredictionType,
    /// x0 estimate of the previous step, and the step it belongs to.
    previous: Option<(usize, Tensor)>,
}

impl DpmPp2M {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize, karras: bool) -> Self {
        DpmPp2M {
            sched: MultistepSchedule::new(cfg, steps, karras),
            prediction: cfg.prediction_type,
            previous: None,
        }
    }
}

impl Scheduler for DpmPp2M {
    fn timesteps(&self) -> &[f64] {
        &self.sched.timesteps
    }

    /// diffusers: `DPMSolverMultistepScheduler.step (2nd-order multistep update)`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        let n = self.sched.timesteps.len();
        let (x, out) = (sample.clone(), model_output.clone());
        let x0 = self.sched.x0(self.prediction, &out, &x, step)?;

        let (alpha_t, sigma_t) = alpha_sigma(self.sched.sigmas[step + 1]);
        let (_, sigma_s0) = alpha_sigma(self.sched.sigmas[step]);
        let h = self.sched.lambda(step + 1) - self.sched.lambda(step);
        // alpha_t * (exp(-h) - 1); at the final sigma 0, h = inf and this is -1.
        let phi = alpha_t * ((-h).exp() - 1.0);
        let ratio = (sigma_t / sigma_s0) as f64;
        let first_order = lincomb(&x, ratio, &x0, -phi as f64)?;

        // The final step is first order (diffusers' lower_order_final with a
        // zero final sigma); so is the first step, which has no history.
        let history = match &self.previous {
            Some((prev_step, m1)) if *prev_step + 1 == step && step + 1 < n => Some(m1),
            _ => None,
        };
        let prev = match history {
            None => first_order,
            Some(m1) => {
                let r0 = (self.sched.lambda(step) - self.sched.lambda(step - 1)) / h;
                let d1 = scale(&(&x0 - m1)?, (1.0 / r0) as f64)?;
                (first_order - scale(&d1, (0.5 * phi) as f64)?)?
            }
        };
        let pred_original = x0.clone();
        self.previous = Some((step, x0));
        Ok((prev, pred_original))
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.sched.timesteps.len())?;
        self.sched.add_noise(original, noise, step)
    }
}
