//! Default places on disk, following each platform's conventions.

use std::path::PathBuf;

/// Favorites: the user's Pictures folder / "Latent Studio" (falling back to
/// the home folder, then the current folder, when the platform has none).
pub fn default_favorites_dir() -> PathBuf {
    let pictures = directories::UserDirs::new().and_then(|u| {
        u.picture_dir()
            .map(PathBuf::from)
            .or_else(|| Some(u.home_dir().join("Pictures")))
    });
    pictures
        .unwrap_or_else(|| PathBuf::from("."))
        .join("Latent Studio")
}

/// The library index database (`~/.local/share/latent-studio/library.sqlite`
/// on Linux); it can always be rebuilt from the image folders.
pub fn default_library_db() -> PathBuf {
    directories::ProjectDirs::from("", "", "latent-studio")
        .map(|d| d.data_dir().join("library.sqlite"))
        .unwrap_or_else(|| std::env::temp_dir().join("latent-studio-library.sqlite"))
}

/// History of every finished image: the platform's cache folder
/// (`~/.cache/latent-studio/history` on Linux).
pub fn default_history_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "latent-studio")
        .map(|d| d.cache_dir().join("history"))
        .unwrap_or_else(|| std::env::temp_dir().join("latent-studio-history"))
}

/// Where the studio looks for model files at start (`~/.local/share/latent-studio/models`
/// on Linux): single-file `.safetensors` checkpoints and diffusers folders.
pub fn default_models_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "latent-studio")
        .map(|d| d.data_dir().join("models"))
        .unwrap_or_else(|| PathBuf::from("models"))
}
