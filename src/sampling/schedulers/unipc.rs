//! UniPC (`UniPCMultistepScheduler` with its defaults: `solver_order = 2`,
//! `bh2`, data prediction, `lower_order_final`): a multistep predictor like
//! DPM-Solver++, plus a corrector that refines the *previous* step's result
//! once the network has been evaluated there (Zhao et al. 2023).

use candle_core::Tensor;

use super::config::{PredictionType, SchedulerConfig};
use super::multistep::{alpha_sigma, MultistepSchedule};
use super::ops::{check_step, lincomb, scale};
use super::Scheduler;
use crate::error::Result;
use crate::sampling::rng::NoiseSource;

/// What the solver remembers between steps.
struct History {
    /// The step these entries belong to (the last one taken).
    step: usize,
    /// x0 prediction at `step`.
    m0: Tensor,
    /// x0 prediction at `step - 1`, when there was one.
    m1: Option<Tensor>,
    /// The (corrected) sample the predictor started from at `step`.
    last_sample: Tensor,
    /// The predictor order used at `step`.
    order: usize,
}

/// UniPC-2M (bh2) sampler.
pub(super) struct UniPc {
    sched: MultistepSchedule,
    prediction: PredictionType,
    history: Option<History>,
}

impl UniPc {
    pub(super) fn new(cfg: &SchedulerConfig, steps: usize) -> Self {
        UniPc {
            sched: MultistepSchedule::new(cfg, steps, false),
            prediction: cfg.prediction_type,
            history: None,
        }
    }

    /// The bh2 corrector: refines the sample reached by the previous step
    /// using the model's x0 at this step (`x0_now`).
    fn correct(&self, h: &History, x0_now: &Tensor, step: usize) -> Result<Tensor> {
        let s = &self.sched;
        let (alpha_t, sigma_t) = alpha_sigma(s.sigmas[step]);
        let (_, sigma_s0) = alpha_sigma(s.sigmas[step - 1]);
        let lambda_s0 = s.lambda(step - 1);
        let hstep = s.lambda(step) - lambda_s0;
        let hh = -hstep;
        let h_phi_1 = hh.exp_m1();
        let b_h = h_phi_1; // bh2: B(h) = expm1(-h)
        let base = lincomb(
            &h.last_sample,
            (sigma_t / sigma_s0) as f64,
            &h.m0,
            -(alpha_t * h_phi_1) as f64,
        )?;
        let d1_t = (x0_now - &h.m0)?;
        let (rho_prev, rho_now, d1) = match (&h.m1, h.order) {
            (Some(m1), 2) => {
                let rk = (s.lambda(step - 2) - lambda_s0) / hstep;
                let d1 = scale(&(m1 - &h.m0)?, (1.0 / rk) as f64)?;
                // Solve [[1, 1], [rk, 1]] · rho = b for the two weights.
                let phi_2 = h_phi_1 / hh - 1.0;
                let b1 = (phi_2 / b_h) as f64;
                let b2 = ((phi_2 / hh - 0.5) * 2.0 / b_h) as f64;
                let rho0 = (b1 - b2) / (1.0 - rk as f64);
                (rho0, b1 - rho0, Some(d1))
            }
            _ => (0.0, 0.5, None),
        };
        let mut res = scale(&d1_t, rho_now)?;
        if let Some(d1) = d1 {
            res = (res + scale(&d1, rho_prev)?)?;
        }
        Ok((base - scale(&res, (alpha_t * b_h) as f64)?)?)
    }

    /// The bh2 predictor of the given order from `x` at `step`.
    fn predict(
        &self,
        x: &Tensor,
        m0: &Tensor,
        m1: Option<&Tensor>,
        step: usize,
        order: usize,
    ) -> Result<Tensor> {
        let s = &self.sched;
        let (alpha_t, sigma_t) = alpha_sigma(s.sigmas[step + 1]);
        let (_, sigma_s0) = alpha_sigma(s.sigmas[step]);
        let lambda_s0 = s.lambda(step);
        let hstep = s.lambda(step + 1) - lambda_s0;
        let h_phi_1 = (-hstep).exp_m1();
        let b_h = h_phi_1;
        let base = lincomb(
            x,
            (sigma_t / sigma_s0) as f64,
            m0,
            -(alpha_t * h_phi_1) as f64,
        )?;
        match (m1, order) {
            (Some(m1), 2) => {
                let rk = (s.lambda(step - 1) - lambda_s0) / hstep;
                let d1 = scale(&(m1 - m0)?, (1.0 / rk) as f64)?;
                // Second order with rho = 0.5 (diffusers' fixed value for order 2).
                Ok((base - scale(&d1, (0.5 * alpha_t * b_h) as f64)?)?)
            }
            _ => Ok(base),
        }
    }
}

impl Scheduler for UniPc {
    fn timesteps(&self) -> &[f64] {
        &self.sched.timesteps
    }

    /// diffusers: `UniPCMultistepScheduler.step (bh2 predictor + corrector)`.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        _noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)> {
        let n = self.sched.timesteps.len();
        let (mut x, out) = (sample.clone(), model_output.clone());
        let x0 = self.sched.x0(self.prediction, &out, &x, step)?;

        // Only a continuation of the previous step has usable history
        // (img2img starts mid-schedule with none).
        let history = self.history.take().filter(|h| h.step + 1 == step);
        if let Some(h) = &history {
            x = self.correct(h, &x0, step)?;
        }
        let m1 = history.map(|h| h.m0);
        // Lower order at the very end and while history is short.
        let order = if m1.is_some() { 2.min(n - step) } else { 1 };
        let prev = self.predict(&x, &x0, m1.as_ref(), step, order)?;
        let pred_original = x0.clone();
        self.history = Some(History {
            step,
            m0: x0,
            m1,
            last_sample: x,
            order,
        });
        Ok((prev, pred_original))
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor> {
        check_step(step, self.sched.timesteps.len())?;
        self.sched.add_noise(original, noise, step)
    }
}
