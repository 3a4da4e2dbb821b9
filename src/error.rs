//! Typed errors of the core. Every message is written for the person at the
//! keyboard: it says what went wrong and, where possible, what to do.

use std::path::PathBuf;

/// Convenience alias used throughout the core.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything the engine, the model loader and the pipeline can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder a model needs is not there.
    #[error("missing model file {path}: {hint}")]
    MissingFile {
        /// The file or folder that is missing.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },

    /// A config.json / model_index.json that cannot be used.
    #[error("bad config {path}: {reason}")]
    BadConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A weights file that is truncated, corrupt, hostile, or disagrees with its config.
    #[error("bad weights file {path}: {reason}")]
    BadWeights {
        /// The weights file (or component folder).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The tokenizer could not be loaded or failed on a prompt.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// Parameters of a job that cannot be run as given.
    #[error("invalid parameter: {0}")]
    InvalidParams(String),

    /// An image (start image, output) that cannot be read or written.
    #[error("image {path}: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// The result contains NaN or infinity even after the f32 fallback.
    #[error("the model produced invalid numbers (NaN/inf): {0}")]
    NonFinite(String),

    /// The job was cancelled by the user.
    #[error("cancelled")]
    Cancelled,

    /// Anything the tensor library reports (shape mismatches, out of memory, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A hub download failed (network, authorization, verification, disk space, ...).
    #[error(transparent)]
    Download(#[from] crate::hub::DownloadError),

    /// File system errors with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wrap an `std::io::Error` with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Weights at `path` that cannot be used, and why.
    pub fn bad_weights(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadWeights {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A config file at `path` that cannot be used, and why.
    pub fn bad_config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadConfig {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A one-line message for a status bar or a CLI error line.
    pub fn one_line(&self) -> String {
        self.to_string().replace('\n', " ")
    }
}
