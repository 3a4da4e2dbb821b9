//! The typed errors of the downloader, each with a message that says what to do.

use std::path::PathBuf;

use super::format_bytes;

/// Everything a hub download can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The hub refused us: a gated model whose license is not accepted, a
    /// private repository, or a missing / wrong token.
    #[error("{repo} is gated or private: accept its license on https://huggingface.co/{repo} and set HF_TOKEN to a token with read access")]
    Unauthorized {
        /// The repository id.
        repo: String,
    },

    /// The repository (`file: None`) or a file in it does not exist.
    #[error("{}", not_found(repo, file.as_deref()))]
    NotFound {
        /// The repository id.
        repo: String,
        /// The missing file, or `None` when the repository itself is missing.
        file: Option<String>,
    },

    /// The repository exists but has no such branch, tag or commit.
    #[error("{repo} has no revision {revision}; check the branch, tag or commit")]
    RevisionNotFound {
        /// The repository id.
        repo: String,
        /// The revision asked for.
        revision: String,
    },

    /// The hub (or its CDN) could not be reached, or the connection broke.
    #[error("could not reach {url}: {reason}; check the connection (HF_ENDPOINT={endpoint}); the partial download is kept and resumes next time")]
    Network {
        /// The URL of the failed request.
        url: String,
        /// What went wrong.
        reason: String,
        /// The hub endpoint in use.
        endpoint: String,
    },

    /// The server answered with an error status we cannot do anything about.
    #[error("the hub answered HTTP {status} for {url}; try again later")]
    Server {
        /// The URL of the failed request.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// The server's answer makes no sense (bad JSON, hostile file names, ...).
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse {
        /// The URL of the request.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },

    /// A repository id, revision or file name that cannot be used.
    #[error("invalid download request: {0}")]
    InvalidRequest(String),

    /// A downloaded file failed verification; it was deleted.
    #[error("{file} failed verification (expected {expected}, got {actual}); the damaged download was deleted, try again")]
    Corrupt {
        /// The file inside the repository.
        file: String,
        /// What the listing promised (size or SHA-256).
        expected: String,
        /// What arrived.
        actual: String,
    },

    /// Not enough free space on the cache's disk for the remaining bytes.
    #[error("needs {} free in {} but only {} is free; free some space or set HF_HOME to a bigger disk", format_bytes(*needed), path.display(), format_bytes(*available))]
    DiskFull {
        /// Bytes needed (remaining download plus a small margin).
        needed: u64,
        /// Bytes free for this user.
        available: u64,
        /// The hub cache folder.
        path: PathBuf,
    },

    /// `HF_HUB_OFFLINE` is set and the files are not all cached.
    #[error("HF_HUB_OFFLINE is set and {repo} is not fully in the cache; unset HF_HUB_OFFLINE to download it")]
    Offline {
        /// The repository id.
        repo: String,
    },

    /// The cancel flag was raised; partial downloads are kept.
    #[error("download cancelled; the partial download is kept and resumes next time")]
    Cancelled,

    /// A file system error in the cache, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn not_found(repo: &str, file: Option<&str>) -> String {
    match file {
        Some(file) => format!("{repo} has no file {file}"),
        None => format!(
            "no repository {repo} on the hub; check the id (a private repository also needs HF_TOKEN)"
        ),
    }
}

impl DownloadError {
    /// Wrap an `std::io::Error` with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DownloadError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether trying the same request again may help (dropped connections,
    /// overloaded servers).
    pub fn is_transient(&self) -> bool {
        match self {
            DownloadError::Network { .. } => true,
            DownloadError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
