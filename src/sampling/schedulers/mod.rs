//! Samplers ("schedulers" in diffusers' terms): which noise levels to visit
//! and how to move from one to the next given the network's prediction.
//!
//! Each sampler reproduces the diffusers class of the same name configured
//! from the same `scheduler_config.json` (timesteps, input scaling, update
//! rule, noise draws), so a seed gives the same image as in diffusers. A new
//! scheduler is built per image: it may keep per-image state (DPM++ keeps the
//! previous prediction). The step is computed in f32 whatever the tensors'
//! dtype and returned in the sample's dtype.

mod config;
mod ddim;
mod dpmpp_2m;
mod euler;
mod euler_ancestral;
mod lcm;
mod multistep;
mod ops;
mod schedule;
mod unipc;

use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::rng::NoiseSource;
use crate::error::{Error, Result};

pub use config::{BetaSchedule, PredictionType, SchedulerConfig, TimestepSpacing};

/// The samplers the studio offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SamplerKind {
    /// Euler ancestral (`EulerAncestralDiscreteScheduler`): adds fresh noise each step.
    #[serde(rename = "euler-a")]
    EulerAncestral,
    /// Euler (`EulerDiscreteScheduler`), deterministic.
    #[serde(rename = "euler")]
    Euler,
    /// DPM-Solver++ 2M (`DPMSolverMultistepScheduler`).
    #[serde(rename = "dpmpp-2m")]
    DpmPp2M,
    /// DPM-Solver++ 2M on the Karras sigma ramp.
    #[serde(rename = "dpmpp-2m-karras")]
    DpmPp2MKarras,
    /// DDIM with eta 0 (`DDIMScheduler`), deterministic.
    #[serde(rename = "ddim")]
    Ddim,
    /// Latent consistency model sampling (`LCMScheduler`), for LCM/LCM-LoRA models.
    #[serde(rename = "lcm")]
    Lcm,
    /// UniPC, 2nd-order bh2 predictor-corrector (`UniPCMultistepScheduler`).
    #[serde(rename = "unipc")]
    UniPc,
}

impl SamplerKind {
    /// Every sampler, in menu order.
    pub const ALL: &'static [SamplerKind] = &[
        SamplerKind::EulerAncestral,
        SamplerKind::Euler,
        SamplerKind::DpmPp2M,
        SamplerKind::DpmPp2MKarras,
        SamplerKind::Ddim,
        SamplerKind::Lcm,
        SamplerKind::UniPc,
    ];

    /// The CLI / settings-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerKind::EulerAncestral => "euler-a",
            SamplerKind::Euler => "euler",
            SamplerKind::DpmPp2M => "dpmpp-2m",
            SamplerKind::DpmPp2MKarras => "dpmpp-2m-karras",
            SamplerKind::Ddim => "ddim",
            SamplerKind::Lcm => "lcm",
            SamplerKind::UniPc => "unipc",
        }
    }

    /// The name AUTOMATIC1111's web UI uses (and writes into PNG "parameters").
    pub fn a1111_name(self) -> &'static str {
        match self {
            SamplerKind::EulerAncestral => "Euler a",
            SamplerKind::Euler => "Euler",
            SamplerKind::DpmPp2M => "DPM++ 2M",
            SamplerKind::DpmPp2MKarras => "DPM++ 2M Karras",
            SamplerKind::Ddim => "DDIM",
            SamplerKind::Lcm => "LCM",
            SamplerKind::UniPc => "UniPC",
        }
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SamplerKind {
    type Err = String;

    /// Accepts the CLI names and, case-insensitively, the A1111 names.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim();
        SamplerKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s || k.a1111_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = SamplerKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown sampler '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// The result of one denoising step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The sample at the next (lower) noise level.
    pub prev_sample: Tensor,
    /// The sampler's current estimate of the clean latent x0, for live previews.
    pub pred_original: Tensor,
}

/// One image's walk down the noise levels. Steps are indexed `0..timesteps().len()`
/// and must be taken in order (img2img starts at a later index).
pub trait Scheduler: Send {
    /// The timestep to pass to the network at each step; may be fractional.
    fn timesteps(&self) -> &[f64];

    /// Standard deviation of the initial noise: start latents are `randn * this`
    /// (1 for the variance-preserving samplers; Euler-type ones override it).
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    /// The network input for `sample` at `step` (Euler-type samplers divide by
    /// `sqrt(sigma² + 1)`; by default it is unchanged).
    fn scale_model_input(&self, sample: &Tensor, _step: usize) -> Result<Tensor> {
        Ok(sample.clone())
    }

    /// Advances `sample` from step `step` to the next noise level, in f32
    /// whatever the model computes in, and returns the result in the
    /// sample's dtype. Ancestral samplers draw their fresh noise from
    /// `noise`. The sampler's own maths is [`Scheduler::step_f32`].
    fn step(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<StepOutput> {
        ops::check_step(step, self.timesteps().len())?;
        let dtype = sample.dtype();
        let (prev, x0) =
            self.step_f32(&ops::f32(model_output)?, step, &ops::f32(sample)?, noise)?;
        Ok(StepOutput {
            prev_sample: ops::like(prev, dtype)?,
            pred_original: ops::like(x0, dtype)?,
        })
    }

    /// One step on f32 tensors, `step` already checked: the next sample and
    /// the estimate of x0. Each sampler's maths, as its diffusers class does it.
    fn step_f32(
        &mut self,
        model_output: &Tensor,
        step: usize,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<(Tensor, Tensor)>;

    /// Noises a clean latent to the level this sampler expects at `step`
    /// (the starting point of img2img).
    fn add_noise(&self, original: &Tensor, noise: &Tensor, step: usize) -> Result<Tensor>;
}

/// Builds a fresh scheduler for one image of `steps` steps.
pub fn build_scheduler(
    kind: SamplerKind,
    cfg: &SchedulerConfig,
    steps: usize,
) -> Result<Box<dyn Scheduler>> {
    if steps == 0 {
        return Err(Error::InvalidParams(
            "the number of steps must be at least 1".into(),
        ));
    }
    let cfg = &cfg.for_sampler(kind);
    if steps > cfg.num_train_timesteps {
        return Err(Error::InvalidParams(format!(
            "{steps} steps is more than the model's {} training timesteps",
            cfg.num_train_timesteps
        )));
    }
    cfg.validate().map_err(Error::InvalidParams)?;
    Ok(match kind {
        SamplerKind::EulerAncestral => Box::new(euler_ancestral::EulerAncestral::new(cfg, steps)),
        SamplerKind::Euler => Box::new(euler::Euler::new(cfg, steps)),
        SamplerKind::DpmPp2M => Box::new(dpmpp_2m::DpmPp2M::new(cfg, steps, false)),
        SamplerKind::DpmPp2MKarras => Box::new(dpmpp_2m::DpmPp2M::new(cfg, steps, true)),
        SamplerKind::Ddim => Box::new(ddim::Ddim::new(cfg, steps)),
        SamplerKind::Lcm => Box::new(lcm::Lcm::new(cfg, steps)?),
        SamplerKind::UniPc => Box::new(unipc::UniPc::new(cfg, steps)),
    })
}

/// First step index of an img2img run, as diffusers computes it:
/// `init = min(int(steps * strength), steps)`, start = `steps - init`.
pub fn img2img_start_step(steps: usize, strength: f64) -> usize {
    let strength = if strength.is_nan() {
        0.0
    } else {
        strength.max(0.0)
    };
    let init = ((steps as f64 * strength) as usize).min(steps);
    steps - init
}

/// The cumulative product of `1 - beta` per training timestep (`alphas_cumprod`),
/// the signal fraction kept at each noise level.
pub fn alphas_cumprod(cfg: &SchedulerConfig) -> Vec<f64> {
    schedule::alphas_cumprod_f32(cfg)
        .into_iter()
        .map(f64::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_names_round_trip() {
        for &k in SamplerKind::ALL {
            assert_eq!(k.as_str().parse::<SamplerKind>().unwrap(), k);
            assert_eq!(k.a1111_name().parse::<SamplerKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<SamplerKind>(&json).unwrap(), k);
        }
        assert!("heun".parse::<SamplerKind>().is_err());
    }

    #[test]
    fn img2img_start_matches_diffusers() {
        assert_eq!(img2img_start_step(50, 1.0), 0);
        assert_eq!(img2img_start_step(50, 0.75), 13);
        assert_eq!(img2img_start_step(50, 0.0), 50);
        assert_eq!(img2img_start_step(30, 0.33), 21);
        assert_eq!(img2img_start_step(10, 1.5), 0);
    }
}
