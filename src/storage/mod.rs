//! Bytes on disk, safely, knowing nothing of images or models: files that
//! are never half-written, their names, the default folders.
//!
//! - [`atomic`]: write to a temporary file, fsync, then move into place;
//! - [`naming`]: names like `2026-11-23_21-04-05_a-terrier-in-the-snow_1234.png`;
//! - [`folders`]: where favorites, history and models live by default.

pub mod atomic;
pub mod folders;
pub mod naming;

use std::path::PathBuf;

/// Why a file could not be written. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The folder cannot be created or written to (permissions, read-only disk).
    #[error("cannot write to {dir}: {source}. Choose another folder in Settings or fix its permissions; the image is still open here")]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the data failed (disk full, I/O error).
    #[error("could not write {path}: {source}. Nothing was saved; free some space and try again")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The image could not be encoded.
    #[error("could not encode the image: {0}")]
    Encode(String),
}
