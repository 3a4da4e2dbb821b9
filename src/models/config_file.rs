//! Reading a component's JSON config with errors that name the file (the
//! networks parse text only, see [`NetworkConfig`]).

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::networks::NetworkConfig;

/// Parse `path` as JSON into `T`; `what` names the component for the
/// "missing file" message (e.g. "the VAE").
pub fn read_config<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = read_text(path, what)?;
    serde_json::from_str(&text).map_err(|e| Error::bad_config(path, e.to_string()))
}

/// Read a network's config.json: [`NetworkConfig::from_json`] on the file's
/// text, errors naming the file.
pub fn load_config<T: NetworkConfig>(path: &Path) -> Result<T> {
    let text = read_text(path, T::WHAT)?;
    T::from_json(&text).map_err(|reason| Error::bad_config(path, reason))
}

/// The text of `path`; a missing file says `what` needs it.
fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile {
            path: path.to_path_buf(),
            hint: format!("{what} needs its config file; re-download the model"),
        },
        _ => Error::io(path, e),
    })
}
