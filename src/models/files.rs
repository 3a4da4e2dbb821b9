//! Finding a model's files: a diffusers folder on disk, a Hugging Face hub
//! repository (the standard hub cache, downloading what is missing), or a
//! single-file `.safetensors` checkpoint (see [`super::single_file`]).
//!
//! A diffusers folder holds `model_index.json` and one sub-folder per
//! component (`unet/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`,
//! and for SDXL `text_encoder_2/`, `tokenizer_2/`), each with a config file
//! and `.safetensors` weights.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::models::source::ModelSource;
use crate::models::stable_diffusion::ModelFamily;

/// The parts of `model_index.json` we use.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ModelIndex {
    /// Pipeline class, e.g. `StableDiffusionXLPipeline`.
    #[serde(rename = "_class_name", default)]
    pub class_name: String,
    /// SDXL: an empty negative prompt means all-zero embeddings.
    #[serde(default)]
    pub force_zeros_for_empty_prompt: Option<bool>,
    /// Present components (`[library, class]`, or `[null, null]` when absent).
    #[serde(flatten)]
    pub components: serde_json::Map<String, serde_json::Value>,
}

impl ModelIndex {
    /// Whether the component is listed and not `[null, null]`.
    pub fn has(&self, name: &str) -> bool {
        match self.components.get(name) {
            Some(serde_json::Value::Array(v)) => v.iter().any(|x| !x.is_null()),
            _ => false,
        }
    }

    /// The SDXL pipeline classes.
    pub fn is_sdxl(&self) -> bool {
        self.class_name.contains("XL")
    }
}

/// One component's config file and weight files.
#[derive(Debug, Clone)]
pub struct ComponentFiles {
    /// Its config.json.
    pub config: PathBuf,
    /// One or more `.safetensors` files (more than one when sharded).
    pub weights: Vec<PathBuf>,
}

/// Every file of a diffusers pipeline, resolved to paths on disk.
#[derive(Debug, Clone)]
pub struct DiffusersFiles {
    /// The folder holding `model_index.json`.
    pub root: PathBuf,
    /// Parsed `model_index.json`.
    pub index: ModelIndex,
    /// The denoiser.
    pub unet: ComponentFiles,
    /// The autoencoder.
    pub vae: ComponentFiles,
    /// The (first) text encoder.
    pub text_encoder: ComponentFiles,
    /// SDXL's second text encoder.
    pub text_encoder_2: Option<ComponentFiles>,
    /// Tokenizer folder of the first text encoder.
    pub tokenizer: PathBuf,
    /// Tokenizer folder of the second text encoder.
    pub tokenizer_2: Option<PathBuf>,
    /// `scheduler/scheduler_config.json`, when present.
    pub scheduler_config: Option<PathBuf>,
}

/// How a model's files are laid out.
#[derive(Debug, Clone)]
pub enum ModelLayout {
    /// A diffusers folder: one sub-folder with config + weights per network.
    Diffusers(Box<DiffusersFiles>),
    /// One `.safetensors` in the LDM key layout (see [`super::single_file`]).
    SingleFile {
        /// The checkpoint.
        path: PathBuf,
        /// Detected from its keys.
        family: ModelFamily,
    },
}

/// A model's files, resolved and checked enough to start loading.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// Where it came from.
    pub source: ModelSource,
    /// The files themselves.
    pub layout: ModelLayout,
    /// TAESD weights for sharper previews, when installed (see `find_taesd`).
    pub preview_decoder: Option<ComponentFiles>,
}

/// Weight file names diffusers and transformers write, in order of preference.
const WEIGHT_NAMES: [&str; 2] = ["diffusion_pytorch_model", "model"];

impl ModelFiles {
    /// For a hub model, the commit its snapshot folder is named after
    /// (`…/snapshots/<commit>/`); `None` for other folders.
    pub fn hub_revision(&self) -> Option<String> {
        let (ModelSource::Hub(_), ModelLayout::Diffusers(d)) = (&self.source, &self.layout) else {
            return None;
        };
        let parent = d.root.parent()?.file_name()?;
        (parent == "snapshots")
            .then(|| d.root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .flatten()
    }

    /// Resolve a source. `prefer_fp16` picks `.fp16.safetensors` variants when
    /// both exist (on devices that compute in f16; the download is half the size).
    pub fn resolve(source: &ModelSource, prefer_fp16: bool) -> Result<Self> {
        Self::resolve_with(source, prefer_fp16, &AtomicBool::new(false), &mut |_| {})
    }

    /// [`Self::resolve`], reporting the progress of a hub download and
    /// stopping it when `cancel` is set.
    pub fn resolve_with(
        source: &ModelSource,
        prefer_fp16: bool,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&crate::hub::DownloadProgress),
    ) -> Result<Self> {
        let root = match source {
            ModelSource::Folder(p) => p.clone(),
            ModelSource::Hub(id) => {
                super::install::snapshot_with(id, prefer_fp16, cancel, progress)?
            }
            ModelSource::Checkpoint(p) => return Self::from_checkpoint(source.clone(), p),
            ModelSource::BuiltIn => super::builtin::folder().ok_or_else(|| Error::MissingFile {
                path: super::builtin::candidates().pop().unwrap_or_default(),
                hint: "the built-in emoji model ships in assets/mini-emoji beside the program; \
                       reinstall it, or choose another model"
                    .into(),
            })?,
        };
        Self::from_folder(source.clone(), &root, prefer_fp16)
    }

    /// A single-file checkpoint: its header is validated and its family
    /// detected now; the tensors are read when the model loads.
    fn from_checkpoint(source: ModelSource, path: &Path) -> Result<Self> {
        let file = super::weights::SafeTensorsFile::open(path)?;
        let family =
            super::single_file::detect_family(path, file.tensors().keys().map(String::as_str))?;
        Ok(Self {
            source,
            layout: ModelLayout::SingleFile {
                path: path.to_path_buf(),
                family,
            },
            preview_decoder: find_taesd(family == ModelFamily::Sdxl),
        })
    }

    /// Resolve a diffusers folder on disk.
    pub fn from_folder(source: ModelSource, root: &Path, prefer_fp16: bool) -> Result<Self> {
        if root.is_file() {
            return Self::from_checkpoint(source, root);
        }
        if !root.is_dir() {
            return Err(Error::MissingFile {
                path: root.to_path_buf(),
                hint: "no such folder; point --model at a diffusers model folder (with model_index.json), a .safetensors checkpoint or a hub id like stabilityai/sd-turbo".into(),
            });
        }
        let index_path = root.join("model_index.json");
        let index: ModelIndex = match std::fs::read_to_string(&index_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::BadConfig {
                path: index_path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::MissingFile {
                    path: index_path,
                    hint: "this folder is not a diffusers model (it has no model_index.json)"
                        .into(),
                })
            }
            Err(e) => return Err(Error::io(index_path, e)),
        };
        let component =
            |name: &str, config: &str| component_files(&root.join(name), config, prefer_fp16);
        let has_second = index.has("text_encoder_2") || root.join("text_encoder_2").is_dir();
        let tokenizer_dir = |name: &str| -> Result<PathBuf> {
            let dir = root.join(name);
            if dir.is_dir() {
                Ok(dir)
            } else {
                Err(Error::MissingFile {
                    path: dir,
                    hint: "the tokenizer folder is missing; re-download the model".into(),
                })
            }
        };
        let scheduler = root.join("scheduler").join("scheduler_config.json");
        let sdxl = index.is_sdxl() || has_second;
        Ok(Self {
            source,
            layout: ModelLayout::Diffusers(Box::new(DiffusersFiles {
                root: root.to_path_buf(),
                unet: component("unet", "config.json")?,
                vae: component("vae", "config.json")?,
                text_encoder: component("text_encoder", "config.json")?,
                text_encoder_2: has_second
                    .then(|| component("text_encoder_2", "config.json"))
                    .transpose()?,
                tokenizer: tokenizer_dir("tokenizer")?,
                tokenizer_2: has_second
                    .then(|| tokenizer_dir("tokenizer_2"))
                    .transpose()?,
                scheduler_config: scheduler.is_file().then_some(scheduler),
                index,
            })),
            preview_decoder: find_taesd(sdxl),
        })
    }
}

/// Models inside a folder (not recursive): diffusers folders and
/// single-file checkpoints whose keys say they are Stable Diffusion models
/// (a LoRA or VAE lying beside them is skipped). Sorted by name.
pub fn models_in_folder(dir: &Path) -> Vec<ModelSource> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<ModelSource> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            if path.join("model_index.json").is_file() {
                return Some(ModelSource::Folder(path));
            }
            let is_safetensors = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            let source = ModelSource::Checkpoint(path.clone());
            (is_safetensors && ModelFiles::from_checkpoint(source.clone(), &path).is_ok())
                .then_some(source)
        })
        .collect();
    found.sort_by_key(|s| s.to_string());
    found
}

/// One name a component's safetensors weights may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFileName {
    /// Every weight in one file (`diffusion_pytorch_model.fp16.safetensors`).
    Single(String),
    /// A shard index; its shards are named `{shard_prefix}00001-of-00002.safetensors`.
    ShardIndex {
        /// The index file's name.
        index: String,
        /// What every shard's name starts with.
        shard_prefix: String,
    },
}

/// The names a component's weights may have, most wanted first: for each
/// variant (`.fp16` first when `prefer_fp16`) and each base name, the single
/// file, then a shard index in either spelling diffusers writes. The one
/// naming rule, for a folder on disk (`component_files`) and a hub listing
/// (`install::pipeline_files`).
pub fn weight_file_names(bases: &[&str], prefer_fp16: bool) -> Vec<WeightFileName> {
    let variants: [&str; 2] = if prefer_fp16 {
        [".fp16", ""]
    } else {
        ["", ".fp16"]
    };
    let mut names = Vec::new();
    for variant in variants {
        for base in bases {
            names.push(WeightFileName::Single(format!(
                "{base}{variant}.safetensors"
            )));
            for index in [
                format!("{base}.safetensors{variant}.index.json"),
                format!("{base}{variant}.safetensors.index.json"),
            ] {
                names.push(WeightFileName::ShardIndex {
                    index,
                    shard_prefix: format!("{base}{variant}-"),
                });
            }
        }
    }
    names
}

/// Find `dir/config` and the component's weights, by [`weight_file_names`].
/// Pickle-only folders are refused.
fn component_files(dir: &Path, config: &str, prefer_fp16: bool) -> Result<ComponentFiles> {
    let config_path = dir.join(config);
    if !config_path.is_file() {
        return Err(Error::MissingFile {
            path: config_path,
            hint: "the component's config file is missing; re-download the model".into(),
        });
    }
    for name in weight_file_names(&WEIGHT_NAMES, prefer_fp16) {
        match name {
            WeightFileName::Single(file) if dir.join(&file).is_file() => {
                return Ok(ComponentFiles {
                    config: config_path,
                    weights: vec![dir.join(file)],
                });
            }
            WeightFileName::ShardIndex { index, .. } if dir.join(&index).is_file() => {
                return Ok(ComponentFiles {
                    config: config_path,
                    weights: sharded_files(&dir.join(index))?,
                });
            }
            _ => {}
        }
    }
    let has_pickle = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| super::weights::is_pickle(&e.path()))
    });
    if has_pickle {
        return Err(Error::BadWeights {
            path: dir.to_path_buf(),
            reason: "only pickle (.bin) weights are present; pickle files can run arbitrary code and are refused. Download the .safetensors version of this model".into(),
        });
    }
    Err(Error::MissingFile {
        path: dir.to_path_buf(),
        hint: "no .safetensors weights in this component folder; re-download the model".into(),
    })
}

fn sharded_files(index: &Path) -> Result<Vec<PathBuf>> {
    #[derive(Deserialize)]
    struct ShardIndex {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let parsed: ShardIndex = serde_json::from_str(&text).map_err(|e| Error::BadConfig {
        path: index.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = parsed.weight_map.values().map(|f| dir.join(f)).collect();
    files.sort();
    files.dedup();
    for f in &files {
        // A shard name with a path separator could point outside the folder.
        if f.parent() != Some(dir) {
            return Err(Error::BadConfig {
                path: index.to_path_buf(),
                reason: format!("shard {} is outside the model folder", f.display()),
            });
        }
    }
    Ok(files)
}

/// TAESD for this latent space: the folder in `LATENT_STUDIO_TAESD`, else
/// `madebyollin/taesdxl` (SDXL) or `madebyollin/taesd` (SD 1/2) if they are
/// in the hub cache. Never downloads: previews work without it.
fn find_taesd(sdxl: bool) -> Option<ComponentFiles> {
    if let Some(dir) = std::env::var_os("LATENT_STUDIO_TAESD") {
        return component_files(Path::new(&dir), "config.json", false).ok();
    }
    let repo = if sdxl {
        "madebyollin/taesdxl"
    } else {
        "madebyollin/taesd"
    };
    let cached = crate::hub::cache_from_env().model(repo.to_string());
    Some(ComponentFiles {
        config: cached.get("config.json")?,
        weights: vec![cached.get("diffusion_pytorch_model.safetensors")?],
    })
}
