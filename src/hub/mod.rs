//! Downloads from the Hugging Face hub into the standard hub cache, the one
//! Python's huggingface_hub and diffusers use, so each reuses the other's
//! files and resumes the other's partial downloads:
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

mod cache;
mod error;
mod http;
mod transfer;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use error::DownloadError;

/// Where and how to reach the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// A user access token, sent (as `Authorization: Bearer`) to the hub host only.
    pub token: Option<String>,
    /// The hub cache the files go into.
    pub cache: hf_hub::Cache,
    /// Make no network request at all; only use what is cached.
    pub offline: bool,
    /// How often a dropped connection or overloaded server is retried per
    /// request before giving up (each retry resumes where the last stopped).
    pub retries: u32,
}

impl HubConfig {
    /// The configuration huggingface_hub would use: `HF_ENDPOINT` (default
    /// `https://huggingface.co`), the token from `HF_TOKEN` else the token
    /// file (`HF_TOKEN_PATH`, else `$HF_HOME/token`), the cache from
    /// [`cache_from_env`], and `HF_HUB_OFFLINE=1|true|yes|on`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let endpoint = var("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://huggingface.co".to_string());
        let token = var("HF_TOKEN").or_else(|| {
            let path = var("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home().map(|home| home.join("token")))?;
            let text = std::fs::read_to_string(path).ok()?;
            Some(text.trim().to_string()).filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            ["1", "true", "yes", "on"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        });
        HubConfig {
            endpoint,
            token,
            cache: cache_from_env(),
            offline,
            retries: 5,
        }
    }
}

/// The hub cache huggingface_hub uses: `HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `~/.cache/huggingface/hub`.
pub fn cache_from_env() -> hf_hub::Cache {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|d| !d.is_empty()) {
        return hf_hub::Cache::new(dir.into());
    }
    match hf_home() {
        Some(home) => hf_hub::Cache::new(home.join("hub")),
        None => hf_hub::Cache::new(std::env::temp_dir().join("huggingface").join("hub")),
    }
}

/// `HF_HOME`, else `~/.cache/huggingface` (what hf_hub's `Cache::from_env` uses).
fn hf_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HF_HOME").filter(|h| !h.is_empty()) {
        return Some(home.into());
    }
    let base = directories::BaseDirs::new()?;
    Some(base.home_dir().join(".cache").join("huggingface"))
}

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
    cache::check_repo_id(repo)?;
    cache::check_revision(revision)?;
    if hub.offline {
        return Err(DownloadError::Offline {
            repo: repo.to_string(),
        });
    }
    list_with(&http::Client::new(hub), hub.retries, repo, revision)
}

fn list_with(
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
    if cache::check_repo_id(repo).is_err()
        || cache::check_revision(revision).is_err()
        || files.iter().any(|f| cache::check_file(f).is_err())
    {
        return None;
    }
    let commit = cache::cached_commit(&hub.cache, repo, revision)?;
    let snapshot = cache::cache_repo(&hub.cache, repo, revision).pointer_path(&commit);
    // `exists` follows the symlink: the blob must be there too.
    let all = files.iter().all(|f| snapshot.join(f).is_file());
    all.then_some((commit, snapshot))
}

/// Bytes of `repo` already in the cache, finished or partial (its blobs,
/// `.incomplete` ones included). Makes no network request; 0 when absent.
pub fn bytes_in_cache(hub: &HubConfig, repo: &str) -> u64 {
    if cache::check_repo_id(repo).is_err() {
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

/// A progress report of [`download`].
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// The file being worked on.
    pub file: String,
    /// Bytes of that file in the cache so far.
    pub file_done: u64,
    /// That file's size.
    pub file_total: u64,
    /// Bytes of the whole request in the cache so far; never decreases.
    pub done: u64,
    /// Bytes of the whole request; `done` ends equal to it.
    pub total: u64,
    /// Transfer speed of this session over the last few seconds.
    pub bytes_per_sec: f64,
    /// Estimated time left, when the speed is known.
    pub eta: Option<Duration>,
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
    cache::check_repo_id(&req.repo)?;
    cache::check_revision(&req.revision)?;
    let mut wanted_paths: Vec<&str> = Vec::new();
    for f in &req.files {
        cache::check_file(f)?;
        if !wanted_paths.contains(&f.as_str()) {
            wanted_paths.push(f);
        }
    }
    for f in &req.optional {
        cache::check_file(f)?;
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

/// A byte count the way the hub shows it, in decimal units: `"340 MB"`,
/// `"1.7 GB"`, `"512 B"`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    for (i, unit) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if value < 9.95 {
            return format!("{value:.1} {unit}");
        }
        if value.round() < 1000.0 || last {
            return format!("{value:.0} {unit}");
        }
        value /= 1000.0;
    }
    unreachable!("the last unit always returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_the_hub() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1000), "1.0 kB");
        assert_eq!(format_bytes(340_000_000), "340 MB");
        assert_eq!(format_bytes(1_700_000_000), "1.7 GB");
        assert_eq!(format_bytes(9_960_000), "10 MB");
        assert_eq!(format_bytes(999_600_000), "1.0 GB");
        assert_eq!(format_bytes(12_345_678_901), "12 GB");
        assert_eq!(format_bytes(u64::MAX), "18 EB");
    }

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
