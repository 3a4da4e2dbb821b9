//! The built-in model: a small emoji text-to-image pipeline the project
//! trains itself (`scripts/mini_model/`) and ships in `assets/mini-emoji`,
//! so the studio draws real pictures on a machine with no download and no
//! network. It is a plain diffusers folder and loads like any other.

use std::path::PathBuf;

use crate::models::catalog::Defaults;
use crate::sampling::schedulers::SamplerKind;

/// The id that names it on the command line and in settings (`--model emoji-mini`).
pub const ID: &str = "emoji-mini";

/// How the window names it.
pub const NAME: &str = "Emoji mini (built in)";

/// The settings it was trained and tuned for: 64 px (4×16×16 latents).
pub const DEFAULTS: Defaults = Defaults {
    size: 64,
    steps: 25,
    cfg_scale: 5.0,
    sampler: SamplerKind::EulerAncestral,
};

/// Its folder name under `assets/`.
const FOLDER: &str = "mini-emoji";

/// Where its files are: beside the executable (`assets/mini-emoji`, or two
/// levels up for `target/<profile>/`), else in the source tree the binary was
/// built from. `None` when none of them holds a `model_index.json`.
pub fn folder() -> Option<PathBuf> {
    candidates()
        .into_iter()
        .find(|dir| dir.join("model_index.json").is_file())
        .map(|dir| dir.canonicalize().unwrap_or(dir))
}

/// The places [`folder`] looks, in order (shown when none holds the model).
pub fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        for up in [
            exe_dir.clone(),
            exe_dir.join("../.."),
            exe_dir.join("../../.."),
        ] {
            dirs.push(up.join("assets").join(FOLDER));
        }
    }
    dirs.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(FOLDER),
    );
    dirs
}
