//! The scheduler settings a model ships in `scheduler/scheduler_config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the training noise levels (betas) grow over the training timesteps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// Betas evenly spaced from `beta_start` to `beta_end`.
    Linear,
    /// Square roots evenly spaced, then squared (Stable Diffusion 1.x/2.x/XL).
    ScaledLinear,
    /// The cosine schedule of "Improved DDPM", betas capped at 0.999.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredcosCapV2,
}

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionType {
    /// The added noise (SD 1.x, SD 2.x base, SDXL).
    Epsilon,
    /// The velocity `alpha * noise - sigma * x0` (SD 2.x 768-v models).
    VPrediction,
    /// The clean sample itself.
    Sample,
}

/// How inference timesteps are picked from the training timesteps; see
/// table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestepSpacing {
    /// Multiples of `T / steps` from 0, plus `steps_offset` (SD 1.x default).
    Leading,
    /// Counted down from the last training timestep (turbo / few-step models).
    Trailing,
    /// Evenly spaced over `[0, T - 1]`.
    Linspace,
}

/// A diffusers `scheduler_config.json`. Keys we do not use (`_class_name`,
/// `skip_prk_steps`, ...) are ignored; missing keys take Stable Diffusion
/// 1.5's values, which is what a diffusers pipeline loaded from an SD 1.5
/// repository hands to any scheduler it swaps in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// Number of diffusion steps the model was trained with (T).
    pub num_train_timesteps: usize,
    /// First beta of the schedule.
    pub beta_start: f64,
    /// Last beta of the schedule.
    pub beta_end: f64,
    /// Shape of the beta schedule.
    pub beta_schedule: BetaSchedule,
    /// Explicit betas overriding the three fields above.
    pub trained_betas: Option<Vec<f64>>,
    /// What the network predicts.
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced.
    pub timestep_spacing: TimestepSpacing,
    /// Added to "leading" timesteps (1 for SD 1.x so the last step is t=1).
    pub steps_offset: usize,
    /// DDIM/LCM: treat the state after the last step as noise-free
    /// (`alpha_cumprod = 1`) instead of `alphas_cumprod[0]`.
    pub set_alpha_to_one: bool,
    /// DDIM/LCM: clamp the predicted x0 to `±clip_sample_range`.
    pub clip_sample: bool,
    /// Range for `clip_sample`.
    pub clip_sample_range: f64,
    /// Euler: use the Karras et al. sigma ramp (fractional model timesteps).
    /// DPM++ ignores this; the sampler kind decides there.
    pub use_karras_sigmas: bool,
    /// Rescale betas to zero terminal SNR (some v-prediction fine-tunes).
    pub rescale_betas_zero_snr: bool,
    /// LCM: the step count the consistency model was distilled with.
    pub original_inference_steps: usize,
    /// LCM: timestep multiplier in the boundary-condition scalings.
    pub timestep_scaling: f64,
    /// The keys the config file actually had (`None`: every field was given,
    /// e.g. the built-in default). diffusers' `from_config` fills a missing
    /// key with the *target sampler's* default, so we must know which are missing.
    #[serde(skip)]
    pub given_keys: Option<std::collections::BTreeSet<String>>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: BetaSchedule::ScaledLinear,
            trained_betas: None,
            prediction_type: PredictionType::Epsilon,
            timestep_spacing: TimestepSpacing::Leading,
            steps_offset: 1,
            set_alpha_to_one: false,
            clip_sample: false,
            clip_sample_range: 1.0,
            use_karras_sigmas: false,
            rescale_betas_zero_snr: false,
            original_inference_steps: 50,
            timestep_scaling: 10.0,
            given_keys: None,
        }
    }
}

impl SchedulerConfig {
    /// Parses a `scheduler_config.json` document.
    fn from_json_str(text: &str) -> std::result::Result<Self, String> {
        let raw: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut cfg: SchedulerConfig =
            serde_json::from_value(serde_json::Value::Object(raw.clone()))
                .map_err(|e| e.to_string())?;
        cfg.given_keys = Some(raw.into_iter().map(|(k, _)| k).collect());
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and validates a `scheduler_config.json` file.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_str(&text).map_err(|reason| Error::BadConfig {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Rejects values no scheduler can work with.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.num_train_timesteps < 2 {
            return Err("num_train_timesteps must be at least 2".into());
        }
        if let Some(betas) = &self.trained_betas {
            if betas.len() != self.num_train_timesteps {
                return Err(format!(
                    "trained_betas has {} values but num_train_timesteps is {}",
                    betas.len(),
                    self.num_train_timesteps
                ));
            }
            if betas.iter().any(|b| !(0.0..1.0).contains(b)) {
                return Err("trained_betas must lie in [0, 1)".into());
            }
        } else if !(self.beta_start > 0.0
            && self.beta_end < 1.0
            && self.beta_start <= self.beta_end)
        {
            return Err(format!(
                "beta_start/beta_end must satisfy 0 < {} <= {} < 1",
                self.beta_start, self.beta_end
            ));
        }
        if self.original_inference_steps == 0
            || self.original_inference_steps > self.num_train_timesteps
        {
            return Err("original_inference_steps must be in 1..=num_train_timesteps".into());
        }
        Ok(())
    }
}

/// The defaults of the diffusers class behind each sampler, for keys a config
/// file does not set (what `Class.from_config(other_config)` does).
struct ClassDefaults {
    beta_start: f64,
    beta_end: f64,
    beta_schedule: BetaSchedule,
    timestep_spacing: TimestepSpacing,
    steps_offset: usize,
    set_alpha_to_one: bool,
    clip_sample: bool,
}

fn class_defaults(kind: super::SamplerKind) -> ClassDefaults {
    use super::SamplerKind as K;
    let linear = ClassDefaults {
        beta_start: 0.0001,
        beta_end: 0.02,
        beta_schedule: BetaSchedule::Linear,
        timestep_spacing: TimestepSpacing::Linspace,
        steps_offset: 0,
        set_alpha_to_one: true,
        clip_sample: false,
    };
    match kind {
        K::Ddim => ClassDefaults {
            timestep_spacing: TimestepSpacing::Leading,
            clip_sample: true,
            ..linear
        },
        K::Lcm => ClassDefaults {
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: BetaSchedule::ScaledLinear,
            timestep_spacing: TimestepSpacing::Leading,
            ..linear
        },
        K::EulerAncestral | K::Euler | K::DpmPp2M | K::DpmPp2MKarras | K::UniPc => linear,
    }
}

impl SchedulerConfig {
    /// This config as the sampler `kind` sees it: keys missing from the file
    /// take that sampler's diffusers defaults.
    pub fn for_sampler(&self, kind: super::SamplerKind) -> SchedulerConfig {
        let Some(given) = &self.given_keys else {
            return self.clone();
        };
        let d = class_defaults(kind);
        let missing = |k: &str| !given.contains(k);
        let mut c = self.clone();
        if missing("beta_start") {
            c.beta_start = d.beta_start;
        }
        if missing("beta_end") {
            c.beta_end = d.beta_end;
        }
        if missing("beta_schedule") {
            c.beta_schedule = d.beta_schedule;
        }
        if missing("timestep_spacing") {
            c.timestep_spacing = d.timestep_spacing;
        }
        if missing("steps_offset") {
            c.steps_offset = d.steps_offset;
        }
        if missing("set_alpha_to_one") {
            c.set_alpha_to_one = d.set_alpha_to_one;
        }
        if missing("clip_sample") {
            c.clip_sample = d.clip_sample;
        }
        c
    }
}

#[cfg(test)]
mod class_default_tests {
    use super::*;
    use crate::sampling::schedulers::SamplerKind;

    #[test]
    fn missing_keys_take_the_samplers_diffusers_defaults() {
        // An Euler config as diffusers writes it has no DDIM-only keys.
        let cfg = SchedulerConfig::from_json_str(
            r#"{"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear",
                "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
                "timestep_spacing": "leading"}"#,
        )
        .unwrap();
        let ddim = cfg.for_sampler(SamplerKind::Ddim);
        assert!(ddim.set_alpha_to_one && ddim.clip_sample);
        assert_eq!(ddim.timestep_spacing, TimestepSpacing::Leading);
        let euler = cfg.for_sampler(SamplerKind::Euler);
        assert_eq!(euler.steps_offset, 1);
        assert_eq!(euler.beta_schedule, BetaSchedule::ScaledLinear);
        // Keys the file sets always win.
        let bare = SchedulerConfig::from_json_str("{}").unwrap();
        assert_eq!(
            bare.for_sampler(SamplerKind::Euler).timestep_spacing,
            TimestepSpacing::Linspace
        );
        assert_eq!(
            SchedulerConfig::default().for_sampler(SamplerKind::Ddim),
            SchedulerConfig::default()
        );
    }
}
