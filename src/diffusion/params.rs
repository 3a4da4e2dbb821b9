//! Everything needed to reproduce an image, and its validation.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::source::ModelSource;
use crate::sampling::rng::RngKind;
use crate::sampling::schedulers::SamplerKind;

/// Smallest and largest accepted image side, in pixels.
const SIZE_RANGE: std::ops::RangeInclusive<u32> = 64..=4096;
/// Accepted number of denoising steps.
const STEPS_RANGE: std::ops::RangeInclusive<usize> = 1..=150;

/// The settings of one image. Together with the model and (for img2img) the
/// start image, they determine the output exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// What to draw.
    pub prompt: String,
    /// What to steer away from (empty: nothing).
    #[serde(default)]
    pub negative_prompt: String,
    /// Denoising steps (for img2img, the schedule length before `strength` cuts it).
    pub steps: usize,
    /// Classifier-free guidance scale; ≤ 1 disables guidance (Turbo models).
    pub cfg_scale: f64,
    /// Seed of the noise generator.
    pub seed: u64,
    /// Sampler (scheduler) used for the reverse process.
    pub sampler: SamplerKind,
    /// Output width in pixels (`None`: the model's native size).
    pub width: Option<u32>,
    /// Output height in pixels (`None`: the model's native size).
    pub height: Option<u32>,
    /// Which random number generator turns the seed into noise.
    #[serde(default)]
    pub rng: RngKind,
    /// img2img only: how much of the schedule to run, 0 (keep) ..= 1 (ignore the image).
    #[serde(default = "default_strength")]
    pub strength: f64,
}

fn default_strength() -> f64 {
    0.75
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            steps: 20,
            cfg_scale: 7.0,
            seed: 0,
            sampler: SamplerKind::EulerAncestral,
            width: None,
            height: None,
            rng: RngKind::TorchCpu,
            strength: default_strength(),
        }
    }
}

impl GenerationParams {
    /// The defaults for a model: a catalog model's own (see
    /// [`crate::models::catalog`]); otherwise distilled ones (Turbo, LCM) take
    /// 2 steps without guidance, the others 20 steps at CFG 7.
    pub fn defaults_for(model: &ModelSource) -> Self {
        let defaults = match model {
            ModelSource::Hub(repo) => {
                crate::models::catalog::for_repo(repo).and_then(|e| e.defaults)
            }
            ModelSource::BuiltIn => Some(crate::models::builtin::DEFAULTS),
            _ => None,
        };
        if let Some(d) = defaults {
            Self {
                steps: d.steps,
                cfg_scale: d.cfg_scale,
                sampler: d.sampler,
                ..Self::default()
            }
        } else if model.is_distilled() {
            Self {
                steps: 2,
                cfg_scale: 0.0,
                ..Self::default()
            }
        } else {
            Self::default()
        }
    }

    /// Whether classifier-free guidance runs (it doubles the U-Net's work).
    pub fn uses_guidance(&self) -> bool {
        self.cfg_scale > 1.0
    }

    /// Check every value; the message says which one is wrong and what is allowed.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if let Some(v) = v {
                if !SIZE_RANGE.contains(&v) || v % 8 != 0 {
                    return Err(Error::InvalidParams(format!(
                        "{name} must be a multiple of 8 between {} and {} pixels (got {v})",
                        SIZE_RANGE.start(),
                        SIZE_RANGE.end()
                    )));
                }
            }
        }
        if !STEPS_RANGE.contains(&self.steps) {
            return Err(Error::InvalidParams(format!(
                "steps must be between {} and {} (got {})",
                STEPS_RANGE.start(),
                STEPS_RANGE.end(),
                self.steps
            )));
        }
        if !self.cfg_scale.is_finite() || !(0.0..=100.0).contains(&self.cfg_scale) {
            return Err(Error::InvalidParams(format!(
                "CFG scale must be between 0 and 100 (got {})",
                self.cfg_scale
            )));
        }
        if !self.strength.is_finite() || !(0.0..=1.0).contains(&self.strength) {
            return Err(Error::InvalidParams(format!(
                "strength must be between 0 and 1 (got {})",
                self.strength
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut GenerationParams)) -> Result<()> {
        let mut p = GenerationParams {
            prompt: "x".into(),
            ..Default::default()
        };
        f(&mut p);
        p.validate()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(with(|_| {}).is_ok());
    }

    #[test]
    fn distilled_models_default_to_few_steps_without_guidance() {
        let turbo =
            GenerationParams::defaults_for(&ModelSource::Hub("stabilityai/sdxl-turbo".into()));
        assert_eq!((turbo.steps, turbo.cfg_scale), (2, 0.0));
        let lcm = GenerationParams::defaults_for(&ModelSource::Folder("/m/LCM_Dreamshaper".into()));
        assert!(!lcm.uses_guidance());
        let sd = GenerationParams::defaults_for(&ModelSource::Hub(
            "runwayml/stable-diffusion-v1-5".into(),
        ));
        assert_eq!((sd.steps, sd.cfg_scale), (20, 7.0));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let msg = |f: fn(&mut GenerationParams)| with(f).unwrap_err().to_string();
        assert!(msg(|p| p.width = Some(0)).contains("width"));
        assert!(msg(|p| p.height = Some(100_000)).contains("height"));
        assert!(msg(|p| p.width = Some(513)).contains("multiple of 8"));
        assert!(msg(|p| p.steps = 0).contains("steps"));
        assert!(msg(|p| p.strength = 1.5).contains("strength"));
        assert!(msg(|p| p.strength = f64::NAN).contains("strength"));
        assert!(msg(|p| p.cfg_scale = -1.0).contains("CFG"));
    }
}
