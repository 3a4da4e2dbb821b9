//! Reading a component's JSON config with errors that name the file.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parse `path` as JSON into `T`; `what` names the component for the
/// "missing file" message (e.g. "the VAE").
pub fn read_config<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile {
            path: path.to_path_buf(),
            hint: format!("{what} needs its config file; re-download the model"),
        },
        _ => Error::io(path, e),
    })?;
    serde_json::from_str(&text).map_err(|e| bad_config(path, e.to_string()))
}

/// A `BadConfig` error for `path`.
pub fn bad_config(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadConfig {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
