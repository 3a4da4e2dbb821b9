//! What the window remembers across restarts (eframe persistence): the last
//! prompt, parameters and model, and a few preferences.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diffusion::params::GenerationParams;
use crate::models::source::ModelSource;
use crate::sampling::rng::RngKind;
use crate::sampling::schedulers::SamplerKind;

/// Steps the slider offers (the issue's 1–50; the CLI accepts more).
pub const STEPS_SLIDER: std::ops::RangeInclusive<usize> = 1..=50;
/// Guidance scale the slider offers; ≤ 1 turns guidance off.
pub const CFG_SLIDER: std::ops::RangeInclusive<f64> = 0.0..=20.0;
/// Images per press of Generate.
pub const BATCH_SLIDER: std::ops::RangeInclusive<usize> = 1..=16;
/// img2img strength used by "Vary" (a subtle variation, like Midjourney's).
pub const VARY_STRENGTH: f64 = 0.4;

/// One entry of the size menu.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizePreset {
    /// Menu label.
    pub label: &'static str,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

/// Sizes each family was trained at, square first, then portrait/landscape.
const SIZE_PRESETS: &[SizePreset] = &[
    SizePreset {
        label: "512 × 512 · SD 1.x / Turbo",
        width: 512,
        height: 512,
    },
    SizePreset {
        label: "512 × 768 · SD 1.x portrait",
        width: 512,
        height: 768,
    },
    SizePreset {
        label: "768 × 512 · SD 1.x landscape",
        width: 768,
        height: 512,
    },
    SizePreset {
        label: "768 × 768 · SD 2.x",
        width: 768,
        height: 768,
    },
    SizePreset {
        label: "640 × 960 · SD 2.x portrait",
        width: 640,
        height: 960,
    },
    SizePreset {
        label: "960 × 640 · SD 2.x landscape",
        width: 960,
        height: 640,
    },
    SizePreset {
        label: "1024 × 1024 · SDXL",
        width: 1024,
        height: 1024,
    },
    SizePreset {
        label: "832 × 1216 · SDXL portrait",
        width: 832,
        height: 1216,
    },
    SizePreset {
        label: "1216 × 832 · SDXL landscape",
        width: 1216,
        height: 832,
    },
    SizePreset {
        label: "256 × 256 · quick look",
        width: 256,
        height: 256,
    },
];

/// The persisted settings. `#[serde(default)]` keeps old files loading
/// when fields are added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The prompt.
    pub prompt: String,
    /// The negative prompt.
    pub negative_prompt: String,
    /// The chosen model as typed: a folder or a hub repo id (empty: none yet).
    pub model: String,
    /// Models used before, newest first.
    pub recent_models: Vec<String>,
    /// Output size; `None` is the model's native size.
    pub size: Option<(u32, u32)>,
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub cfg_scale: f64,
    /// Sampler.
    pub sampler: SamplerKind,
    /// Seed of the next job.
    pub seed: u64,
    /// Keep the seed after generating (otherwise a new one is rolled).
    pub seed_locked: bool,
    /// Images per Generate (seeds count up from `seed`).
    pub batch: usize,
    /// img2img strength.
    pub strength: f64,
    /// Where starred images go (`None`: Pictures/Latent Studio).
    pub favorites_dir: Option<PathBuf>,
    /// Show the decay lens under the start image.
    pub show_lens: bool,
    /// A folder of models scanned at start (`None`: the default models folder).
    pub models_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        let p = GenerationParams::default();
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            model: String::new(),
            recent_models: Vec::new(),
            size: None,
            steps: p.steps,
            cfg_scale: p.cfg_scale,
            sampler: p.sampler,
            seed: random_seed(),
            seed_locked: false,
            batch: 1,
            strength: p.strength,
            favorites_dir: None,
            show_lens: true,
            models_dir: None,
        }
    }
}

impl Settings {
    /// The model to use, if one is chosen.
    pub fn model_source(&self) -> Option<ModelSource> {
        let m = self.model.trim();
        (!m.is_empty()).then(|| ModelSource::parse(m))
    }

    /// Parameters of the `index`-th image of a batch (seed + index).
    pub fn params(&self, index: usize) -> GenerationParams {
        GenerationParams {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            steps: self.steps,
            cfg_scale: self.cfg_scale,
            seed: self.seed.wrapping_add(index as u64),
            sampler: self.sampler,
            width: self.size.map(|s| s.0),
            height: self.size.map(|s| s.1),
            rng: RngKind::TorchCpu,
            strength: self.strength,
        }
    }

    /// Whether the chosen model is the built-in emoji model (by its id: this
    /// runs every frame, so it must not touch the disk).
    pub fn is_builtin_model(&self) -> bool {
        self.model.trim() == crate::models::builtin::ID
    }

    /// The size presets that make sense for the chosen model: none besides
    /// its native size for the built-in one (it only draws 64 px images).
    pub fn size_presets(&self) -> &'static [SizePreset] {
        if self.is_builtin_model() {
            &[]
        } else {
            SIZE_PRESETS
        }
    }

    /// Switch model, remember it, and take its defaults (Turbo: few steps,
    /// no guidance) for steps, CFG and sampler; the built-in model also goes
    /// back to its native size.
    pub fn choose_model(&mut self, model: &str) {
        let model = model.trim();
        if model.is_empty() || model == self.model {
            return;
        }
        self.model = model.to_string();
        self.recent_models.retain(|m| m != model);
        self.recent_models.insert(0, model.to_string());
        self.recent_models.truncate(10);
        let source = ModelSource::parse(model);
        if source == ModelSource::BuiltIn {
            self.size = None;
        }
        let d = GenerationParams::defaults_for(&source);
        self.steps = d.steps;
        self.cfg_scale = d.cfg_scale;
        self.sampler = d.sampler;
    }

    /// Copy an image's parameters back (A1111's "send to txt2img"): the seed is
    /// locked so pressing Generate reproduces it.
    pub fn use_params(&mut self, params: &GenerationParams) {
        self.prompt = params.prompt.clone();
        self.negative_prompt = params.negative_prompt.clone();
        self.steps = params.steps;
        self.cfg_scale = params.cfg_scale;
        self.sampler = params.sampler;
        self.seed = params.seed;
        self.seed_locked = true;
        self.size = params.width.zip(params.height);
        self.strength = params.strength;
    }

    /// The folder scanned for models at start.
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(crate::storage::folders::default_models_dir)
    }

    /// Human label of the current size.
    pub fn size_label(&self) -> String {
        self.size_label_for(self.size)
    }

    /// Human label of `size` (`None`: the model's native size) for the chosen model.
    pub fn size_label_for(&self, size: Option<(u32, u32)>) -> String {
        match size {
            None if self.is_builtin_model() => {
                let n = crate::models::builtin::DEFAULTS.size;
                format!("Model's native size ({n} × {n})")
            }
            None => "Model's native size".into(),
            Some((w, h)) => SIZE_PRESETS
                .iter()
                .find(|p| (p.width, p.height) == (w, h))
                .map(|p| p.label.to_string())
                .unwrap_or_else(|| format!("{w} × {h}")),
        }
    }
}

/// A fresh seed in A1111's range (0 ..= 2³²−1), from the OS-seeded hasher.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choosing_a_turbo_model_takes_its_defaults() {
        let mut s = Settings::default();
        s.choose_model("stabilityai/sd-turbo");
        assert_eq!((s.steps, s.cfg_scale), (2, 0.0));
        assert_eq!(s.recent_models, ["stabilityai/sd-turbo"]);
        s.choose_model("stable-diffusion-v1-5/stable-diffusion-v1-5");
        assert!(s.steps > 4 && s.cfg_scale > 1.0);
        assert_eq!(s.recent_models.len(), 2);
    }

    #[test]
    fn batch_seeds_count_up_and_settings_round_trip() {
        let s = Settings {
            seed: 10,
            size: Some((512, 768)),
            ..Default::default()
        };
        assert_eq!(s.params(2).seed, 12);
        assert_eq!(
            (s.params(0).width, s.params(0).height),
            (Some(512), Some(768))
        );
        let mut t = Settings::default();
        t.use_params(&s.params(1));
        assert_eq!(
            (t.seed, t.seed_locked, t.size),
            (11, true, Some((512, 768)))
        );
        let old_file: Settings = serde_json::from_str(r#"{"prompt":"x"}"#).unwrap();
        assert_eq!(old_file.prompt, "x");
        assert!(random_seed() <= u32::MAX as u64);
    }
}
