//! A repository's files at one commit, listed with one request, and what of
//! a repository is already in the cache.

use std::time::Duration;

use super::{cache, http, names, DownloadError, HubConfig};

/// One file of a repository listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repository (`unet/config.json`); checked to stay inside it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The SHA-256 of an LFS file (lower-case hex), which is also its cache etag.
    pub sha256: Option<String>,
    /// The git blob id (lower-case hex; the cache etag of a non-LFS file).
    /// May be empty for LFS files.
    pub blob_id: String,
}

impl RepoFile {
    /// The name of this file's blob in the cache, as huggingface_hub names it.
    pub fn etag(&self) -> &str {
        self.sha256.as_deref().unwrap_or(&self.blob_id)
    }
}

/// The files of a repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoListing {
    /// The repository id.
    pub repo: String,
    /// The commit hash the revision resolved to.
    pub commit: String,
    /// Every file in the repository.
    pub files: Vec<RepoFile>,
}

impl RepoListing {
    /// The file at `path`, if the repository has it.
    pub fn file(&self, path: &str) -> Option<&RepoFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// List the files of `repo` at `revision` (a branch, tag or commit) with one
/// request: `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`.
/// Transient failures are retried `hub.retries` times.
pub fn list_repo(
    hub: &HubConfig,
    repo: &str,
    revision: &str,
) -> Result<RepoListing, DownloadError> {
    names::check_repo_id(repo)?;
    names::check_revision(revision)?;
    if hub.offline {
        return Err(DownloadError::Offline {
            repo: repo.to_string(),
        });
    }
    list_with(&http::Client::new(hub), hub.retries, repo, revision)
}

pub(super) fn list_with(
    client: &http::Client,
    retries: u32,
    repo: &str,
    revision: &str,
) -> Result<RepoListing, DownloadError> {
    let mut failures = 0;
    loop {
        match http::fetch_listing(client, repo, revision) {
            Err(e) if e.is_transient() && failures < retries => {
                failures += 1;
                log::warn!("listing {repo}: {e}; retry {failures}/{retries}");
                std::thread::sleep(Duration::from_millis(200 << (failures - 1).min(5)));
            }
            result => return result,
        }
    }
}

/// Bytes of `repo` already in the cache, finished or partial (its blobs,
/// `.incomplete` ones included). Makes no network request; 0 when absent.
pub fn bytes_in_cache(hub: &HubConfig, repo: &str) -> u64 {
    if names::check_repo_id(repo).is_err() {
        return 0;
    }
    let blobs = cache::repo_dir(&hub.cache, repo).join("blobs");
    std::fs::read_dir(blobs)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
