//! The Hugging Face hub client: downloads into the standard hub cache, the
//! one Python's huggingface_hub and diffusers use, so each reuses the other's
//! files (and partial downloads, as far as huggingface_hub allows):
//!
//! ```text
//! {cache}/models--{owner}--{name}/
//!     blobs/{etag}                contents; etag = LFS sha256, else git blob id
//!     blobs/{etag}.incomplete     a partial download, resumed with a Range request
//!     blobs/{etag}.{8 hex}.incomplete   huggingface_hub ≥ 1.17's per-process partial:
//!                                 it never resumes one, we adopt a killed process's
//!     snapshots/{commit}/{path}   relative symlink to ../../blobs/{etag}
//!     refs/{revision}             the commit the revision points at
//! {cache}/.locks/models--{owner}--{name}/{etag}.lock   held while a blob is written
//! ```
//!
//! [`download`] makes no request when everything is cached, lists the
//! repository once otherwise, checks free disk space, then streams each
//! missing file (resuming, retrying dropped connections, verifying size and
//! the LFS SHA-256 before anything enters `snapshots/`), cancellable between
//! chunks, with progress reports. [`HubConfig::from_env`] reads `HF_ENDPOINT`,
//! `HF_TOKEN`, `HF_HOME` / `HF_HUB_CACHE` and `HF_HUB_OFFLINE`.
//!
//! Files: `config.rs` (the environment), `listing.rs` (a repository's files),
//! `cache.rs` (the layout, locks, partials, free space), `names.rs`
//! (repository ids, revisions and paths checked), `http.rs` (requests),
//! `transfer.rs` (streaming one file), `progress.rs` (reports and how they
//! read), `error.rs`. Knows nothing of Stable
//! Diffusion: [`crate::models::install`] decides what to fetch.

mod cache;
mod config;
mod error;
mod http;
mod listing;
mod names;
mod progress;
mod transfer;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

pub use config::{cache_from_env, HubConfig};
pub use error::DownloadError;
use listing::list_with;
pub use listing::{bytes_in_cache, list_repo, RepoFile, RepoListing};
pub use progress::{format_bytes, DownloadProgress};

/// The snapshot folder holding every one of `files` for `repo` at
/// `revision`, if the cache has them all; makes no network request.
pub fn cached_snapshot(
    hub: &HubConfig,
    repo: &str,
    revision: &str,
    files: &[String],
) -> Option<PathBuf> {
    cached(hub, repo, revision, files).map(|(_, snapshot)| snapshot)
}

fn cached(
    hub: &HubConfig,
    repo: &str,
    revision: &str,
    files: &[String],
) -> Option<(String, PathBuf)> {
    if names::check_repo_id(repo).is_err()
        || names::check_revision(revision).is_err()
        || files.iter().any(|f| names::check_file(f).is_err())
    {
        return None;
    }
    let commit = cache::cached_commit(&hub.cache, repo, revision)?;
    let snapshot = cache::cache_repo(&hub.cache, repo, revision).pointer_path(&commit);
    // `exists` follows the symlink: the blob must be there too.
    let all = files.iter().all(|f| snapshot.join(f).is_file());
    all.then_some((commit, snapshot))
}

/// What to fetch: a repository, a revision and files in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownloadRequest {
    /// The repository id (`owner/name`).
    pub repo: String,
    /// A branch, tag or commit hash (usually `main`).
    pub revision: String,
    /// Paths inside the repository. Empty means every file of the repository
    /// (which always needs the listing, so it never completes offline).
    pub files: Vec<String>,
    /// Paths fetched when the repository has them, skipped when it has not
    /// (and not needed for the request to count as cached).
    pub optional: Vec<String>,
}

/// The result of a successful [`download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// `snapshots/{commit}`: the requested files are at their repository paths in it.
    pub snapshot: PathBuf,
    /// The commit the files come from.
    pub commit: String,
    /// Bytes transferred over the network by this call.
    pub fetched_bytes: u64,
    /// Files that were already complete in the cache and only linked.
    pub reused_files: usize,
}

/// Bring the requested files into the hub cache and return their snapshot.
///
/// Everything cached: returns at once with no network request (also when
/// offline). Otherwise lists the repository once, links files whose blob is
/// already there, checks free disk space, and streams the rest from
/// `{endpoint}/{repo}/resolve/{commit}/{path}`. `cancel` is checked between
/// chunks ([`DownloadError::Cancelled`], partial files kept); `progress` is
/// called at most ~10 times a second plus once at the end of each file.
pub fn download(
    hub: &HubConfig,
    req: &DownloadRequest,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Downloaded, DownloadError> {
    let wanted_paths = check_request(req)?;
    if !req.files.is_empty() {
        if let Some((commit, snapshot)) = cached(hub, &req.repo, &req.revision, &req.files) {
            cache::sweep_partials(&hub.cache, &req.repo);
            return Ok(Downloaded {
                snapshot,
                commit,
                fetched_bytes: 0,
                reused_files: wanted_paths.len(),
            });
        }
    }
    if hub.offline {
        return Err(DownloadError::Offline {
            repo: req.repo.clone(),
        });
    }
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(DownloadError::Cancelled);
    }

    let client = http::Client::new(hub);
    let listing = list_with(&client, hub.retries, &req.repo, &req.revision)?;
    fetch_listed(hub, &client, req, &wanted_paths, &listing, cancel, progress)
}

/// [`download`] with the listing of `req.revision` already in hand (the
/// caller listed the repository to choose the files), so it is not listed
/// again. Writes `refs/{revision}` for a branch or tag, fetches what is
/// missing of `listing.commit`, and links the snapshot.
pub fn download_listed(
    hub: &HubConfig,
    req: &DownloadRequest,
    listing: &RepoListing,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Downloaded, DownloadError> {
    let wanted_paths = check_request(req)?;
    if listing.repo != req.repo {
        return Err(DownloadError::InvalidRequest(format!(
            "the listing of {} does not belong to {}",
            listing.repo, req.repo
        )));
    }
    if hub.offline {
        return Err(DownloadError::Offline {
            repo: req.repo.clone(),
        });
    }
    let client = http::Client::new(hub);
    fetch_listed(hub, &client, req, &wanted_paths, listing, cancel, progress)
}

/// The paths of `req` checked, required files first, without repeats.
fn check_request(req: &DownloadRequest) -> Result<Vec<&str>, DownloadError> {
    names::check_repo_id(&req.repo)?;
    names::check_revision(&req.revision)?;
    let mut wanted_paths: Vec<&str> = Vec::new();
    for f in &req.files {
        names::check_file(f)?;
        if !wanted_paths.contains(&f.as_str()) {
            wanted_paths.push(f);
        }
    }
    for f in &req.optional {
        names::check_file(f)?;
    }
    Ok(wanted_paths)
}

/// The download proper, once `req` is checked (`wanted_paths` from
/// [`check_request`]) and its repository listed.
fn fetch_listed(
    hub: &HubConfig,
    client: &http::Client,
    req: &DownloadRequest,
    wanted_paths: &[&str],
    listing: &RepoListing,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Downloaded, DownloadError> {
    let mut wanted: Vec<&RepoFile> = if wanted_paths.is_empty() {
        listing.files.iter().collect()
    } else {
        wanted_paths
            .iter()
            .map(|p| {
                listing.file(p).ok_or_else(|| DownloadError::NotFound {
                    repo: req.repo.clone(),
                    file: Some(p.to_string()),
                })
            })
            .collect::<Result<_, _>>()?
    };
    for path in &req.optional {
        if let Some(file) = listing.file(path) {
            if !wanted.iter().any(|w| w.path == file.path) {
                wanted.push(file);
            }
        }
    }

    let repo_cache = cache::cache_repo(&hub.cache, &req.repo, &req.revision);
    // Like huggingface_hub, the ref first: finished files are found even if a later one fails.
    cache::write_ref(&hub.cache, &req.repo, &req.revision, &listing.commit)?;

    let mut remaining = 0u64;
    for file in &wanted {
        let blob = repo_cache.blob_path(file.etag());
        if !cache::blob_is_complete(&blob, file.size) {
            let have = std::fs::metadata(cache::incomplete_path(&blob)).map_or(0, |m| m.len());
            let left = if have <= file.size {
                file.size - have
            } else {
                file.size
            };
            remaining = remaining.saturating_add(left);
        }
    }
    cache::check_space(
        remaining,
        cache::available_space(hub.cache.path()),
        hub.cache.path(),
    )?;

    let mut session = transfer::Session {
        client,
        repo: &req.repo,
        commit: &listing.commit,
        retries: hub.retries,
        cancel,
        progress,
        meter: transfer::Meter::new(),
        done: 0,
        total: wanted.iter().fold(0u64, |t, f| t.saturating_add(f.size)),
        fetched: 0,
    };
    let mut reused_files = 0;
    for file in wanted {
        if session.cancelled() {
            return Err(DownloadError::Cancelled);
        }
        let etag = file.etag();
        let blob = repo_cache.blob_path(etag);
        if cache::blob_is_complete(&blob, file.size) {
            reused_files += 1;
            session.done = session.done.saturating_add(file.size);
            session.report(&file.path, file.size, file.size, true);
        } else {
            let lock = cache::lock_blob(&cache::lock_path(&hub.cache, &req.repo, etag), cancel)?;
            // Another process may have finished it while we waited for the lock.
            if cache::blob_is_complete(&blob, file.size) {
                reused_files += 1;
                session.done = session.done.saturating_add(file.size);
                session.report(&file.path, file.size, file.size, true);
            } else {
                if lock.held {
                    // Only with the lock: nobody is writing a partial now.
                    cache::adopt_partials(&blob, file.size);
                }
                session.fetch(file, &blob)?;
            }
        }
        cache::link_snapshot(&repo_cache, &listing.commit, &file.path, etag)?;
    }
    cache::sweep_partials(&hub.cache, &req.repo);
    Ok(Downloaded {
        snapshot: repo_cache.pointer_path(&listing.commit),
        commit: listing.commit.clone(),
        fetched_bytes: session.fetched,
        reused_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_sha256_for_lfs_else_blob_id() {
        let mut f = RepoFile {
            path: "a".into(),
            size: 1,
            sha256: None,
            blob_id: "b".repeat(40),
        };
        assert_eq!(f.etag(), "b".repeat(40));
        f.sha256 = Some("c".repeat(64));
        assert_eq!(f.etag(), "c".repeat(64));
    }
}
