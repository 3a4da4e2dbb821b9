//! Where a model comes from, as the user named it: a diffusers folder, a hub
//! repository id, a single-file checkpoint, or the built-in model; and how
//! such a name is shown.

use std::path::{Path, PathBuf};

/// Where a model comes from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ModelSource {
    /// A diffusers folder on disk.
    Folder(PathBuf),
    /// A hub repository id such as `stabilityai/sd-turbo`.
    Hub(String),
    /// A single-file checkpoint (`.safetensors` in the LDM key layout).
    Checkpoint(PathBuf),
    /// The emoji model that ships with the studio (see [`super::builtin`]).
    BuiltIn,
}

impl ModelSource {
    /// Interpret a `--model` argument: a file (or a name ending in a weights
    /// extension) is a checkpoint, another existing path a folder, a catalog
    /// id (`sd-turbo`) or a string of the form `owner/name` that is not a path
    /// a hub repository.
    pub fn parse(arg: &str) -> Self {
        let path = Path::new(arg);
        let weights_ext = super::weights::is_weights_file(path);
        if path.is_file() || (weights_ext && !path.is_dir()) {
            return ModelSource::Checkpoint(path.to_path_buf());
        }
        if !path.exists() {
            if arg == super::builtin::ID {
                return ModelSource::BuiltIn;
            }
            if let Some(entry) = super::catalog::find(arg) {
                return ModelSource::Hub(entry.repo.to_string());
            }
        }
        let looks_like_repo = arg.split('/').count() == 2
            && !arg.starts_with('.')
            && !arg.starts_with('/')
            && !arg.contains('\\');
        if path.exists() || !looks_like_repo {
            ModelSource::Folder(path.to_path_buf())
        } else {
            ModelSource::Hub(arg.to_string())
        }
    }

    /// Whether the name says this is a few-step distilled model (Turbo, LCM,
    /// Lightning): those want 1–4 steps and no guidance. Nothing in a
    /// diffusers folder records it, so the name is all there is to go on.
    pub fn is_distilled(&self) -> bool {
        let name = self.display_name().to_ascii_lowercase();
        ["turbo", "lcm", "lightning"]
            .iter()
            .any(|k| name.contains(k))
    }

    /// A short human name (folder name or repo id).
    pub fn display_name(&self) -> String {
        match self {
            ModelSource::Folder(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            ModelSource::Checkpoint(p) => p
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            ModelSource::Hub(id) => id.clone(),
            ModelSource::BuiltIn => super::builtin::NAME.to_string(),
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Folder(p) | ModelSource::Checkpoint(p) => write!(f, "{}", p.display()),
            ModelSource::Hub(id) => write!(f, "{id}"),
            ModelSource::BuiltIn => write!(f, "{}", super::builtin::ID),
        }
    }
}

/// How a model setting is shown: the catalog's name for a catalog
/// repository, else the folder or file name, or the repo id. Looks at the
/// disk (to tell a folder from a repo id).
pub fn model_display_name(value: &str) -> String {
    match super::catalog::for_repo(value) {
        Some(entry) => entry.name.to_string(),
        None => ModelSource::parse(value).display_name(),
    }
}
