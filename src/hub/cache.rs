//! The hub cache layout (shared with Python's huggingface_hub): paths,
//! refs, snapshot links, blob locks, partial downloads, and the free-space
//! check.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hf_hub::{Cache, CacheRepo, Repo, RepoType};

use super::names::is_hex;
use super::DownloadError;

/// The cache handle of a model repository at `revision`.
pub(super) fn cache_repo(cache: &Cache, repo: &str, revision: &str) -> CacheRepo {
    cache.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ))
}

/// `{cache}/models--{owner}--{name}`.
pub(super) fn repo_dir(cache: &Cache, repo: &str) -> PathBuf {
    cache
        .path()
        .join(Repo::new(repo.to_string(), RepoType::Model).folder_name())
}

/// `blobs/{etag}.incomplete`, the name huggingface_hub gives partial downloads.
pub(super) fn incomplete_path(blob: &Path) -> PathBuf {
    let mut name = blob.as_os_str().to_os_string();
    name.push(".incomplete");
    PathBuf::from(name)
}

/// `{cache}/.locks/models--{owner}--{name}/{etag}.lock`, huggingface_hub's lock file.
pub(super) fn lock_path(cache: &Cache, repo: &str, etag: &str) -> PathBuf {
    cache
        .path()
        .join(".locks")
        .join(Repo::new(repo.to_string(), RepoType::Model).folder_name())
        .join(format!("{etag}.lock"))
}

/// The commit `revision` resolves to in the cache, without network.
pub(super) fn cached_commit(cache: &Cache, repo: &str, revision: &str) -> Option<String> {
    let repo_cache = cache_repo(cache, repo, revision);
    if is_hex(revision, 40) && repo_cache.pointer_path(revision).is_dir() {
        return Some(revision.to_string());
    }
    let text = fs::read_to_string(repo_dir(cache, repo).join("refs").join(revision)).ok()?;
    let commit = text.trim();
    is_hex(commit, 40).then(|| commit.to_string())
}

/// Record that `revision` (a branch or tag) points at `commit`:
/// `refs/{revision}` holds the 40 hex digits and nothing else, as
/// huggingface_hub writes and reads it. A commit revision needs no ref.
/// Written through a temporary file, so a reader never sees a truncated ref.
pub(super) fn write_ref(
    cache: &Cache,
    repo: &str,
    revision: &str,
    commit: &str,
) -> Result<(), DownloadError> {
    if revision == commit {
        return Ok(());
    }
    let mut path = repo_dir(cache, repo).join("refs");
    path.extend(revision.split('/'));
    if fs::read_to_string(&path).is_ok_and(|old| old == commit) {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(&path).to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| DownloadError::io(&parent, e))?;
    crate::storage::atomic::replace_file(&path, |out| out.write_all(commit.as_bytes()))
        .map_err(|e| DownloadError::io(&path, std::io::Error::other(e.to_string())))
}

/// A complete blob of the expected size.
pub(super) fn blob_is_complete(blob: &Path, size: u64) -> bool {
    fs::metadata(blob).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Make `snapshots/{commit}/{path}` point at `blobs/{etag}`: a relative
/// symlink like huggingface_hub makes, else a hard link, else a copy.
pub(super) fn link_snapshot(
    repo_cache: &CacheRepo,
    commit: &str,
    path: &str,
    etag: &str,
) -> Result<PathBuf, DownloadError> {
    let blob = repo_cache.blob_path(etag);
    let mut dest = repo_cache.pointer_path(commit);
    dest.extend(path.split('/'));
    let parent = dest.parent().unwrap_or(&dest).to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| DownloadError::io(&parent, e))?;

    // From snapshots/{commit}/a/b/file up to the repository folder.
    let mut target = PathBuf::new();
    for _ in 0..path.split('/').count() + 1 {
        target.push("..");
    }
    target.push("blobs");
    target.push(etag);

    if fs::symlink_metadata(&dest).is_ok() {
        if fs::read_link(&dest).is_ok_and(|t| t == target) {
            return Ok(dest);
        }
        fs::remove_file(&dest).map_err(|e| DownloadError::io(&dest, e))?;
    }
    if symlink(&target, &dest).is_err() && fs::hard_link(&blob, &dest).is_err() {
        fs::copy(&blob, &dest).map_err(|e| DownloadError::io(&dest, e))?;
    }
    Ok(dest)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

#[cfg(not(any(unix, windows)))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// huggingface_hub's lock on one blob, released when dropped.
pub(super) struct BlobLock {
    _file: fs::File,
    /// Whether the lock is really held (false on file systems without locks,
    /// where another process may be writing this blob's partial right now).
    pub held: bool,
}

/// Take huggingface_hub's lock for one blob, waiting (cancellably) while
/// another process holds it.
pub(super) fn lock_blob(path: &Path, cancel: &AtomicBool) -> Result<BlobLock, DownloadError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| DownloadError::io(parent, e))?;
    }
    let file = open_lock_file(path).map_err(|e| DownloadError::io(path, e))?;
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {
                return Ok(BlobLock {
                    _file: file,
                    held: true,
                })
            }
            Err(fs4::TryLockError::WouldBlock) => {
                if cancel.load(Ordering::Relaxed) {
                    return Err(DownloadError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs4::TryLockError::Error(e)) => {
                // File systems without locks (some network mounts): go on unlocked.
                log::warn!("cannot lock {}: {e}", path.display());
                return Ok(BlobLock {
                    _file: file,
                    held: false,
                });
            }
        }
    }
}

/// Open (creating) a lock file the way huggingface_hub does: group-writable
/// (0o664), so users sharing a cache can wait on each other's locks.
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o664);
    options.open(path)
}

/// Partial downloads of `blob` that huggingface_hub 1.17 and later leave
/// behind when killed: each of its downloads writes `{etag}.{8 hex}.incomplete`
/// (and deletes it on an ordinary failure), and it never resumes one.
fn leftover_partials(blob: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(etag)) = (blob.parent(), blob.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_str().is_some_and(|name| {
                name.strip_prefix(etag)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .and_then(|rest| rest.strip_suffix(".incomplete"))
                    .is_some_and(|tag| is_hex(tag, 8))
            })
        })
        .map(|e| e.path())
        .collect()
}

/// With the blob's lock held: make `{etag}.incomplete` the longest partial
/// of it there is, ours or one a killed huggingface_hub process left, so the
/// download resumes from there; the other leftovers are removed. A partial
/// longer than the file is left for the transfer to restart.
pub(super) fn adopt_partials(blob: &Path, size: u64) {
    let ours = incomplete_path(blob);
    let len = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    let mut best = len(&ours);
    for leftover in leftover_partials(blob) {
        let have = len(&leftover);
        if have > best && have <= size && fs::rename(&leftover, &ours).is_ok() {
            log::info!(
                "resuming {} from {have} bytes another download left",
                ours.display()
            );
            best = have;
        } else {
            let _ = fs::remove_file(&leftover);
        }
    }
}

/// Remove partial downloads whose blob is finished: ours, left when
/// huggingface_hub (which never resumes) fetched the file anew, or its
/// leftovers. Each only under the blob's lock, skipped when it is busy.
pub(super) fn sweep_partials(cache: &Cache, repo: &str) {
    let blobs = repo_dir(cache, repo).join("blobs");
    let Ok(entries) = fs::read_dir(&blobs) else {
        return;
    };
    let mut finished: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let stem = name.strip_suffix(".incomplete")?;
            let etag = stem.split('.').next()?.to_string();
            blobs.join(&etag).is_file().then_some(etag)
        })
        .collect();
    finished.sort();
    finished.dedup();
    for etag in finished {
        let Ok(lock) = open_lock_file(&lock_path(cache, repo, &etag)) else {
            continue;
        };
        if fs4::FileExt::try_lock(&lock).is_ok() {
            let blob = blobs.join(&etag);
            let _ = fs::remove_file(incomplete_path(&blob));
            for leftover in leftover_partials(&blob) {
                let _ = fs::remove_file(leftover);
            }
        }
    }
}

/// Free bytes for this user on the file system holding `dir` (or its nearest
/// existing ancestor); `None` when unknown.
pub(super) fn available_space(dir: &Path) -> Option<u64> {
    let mut dir = dir;
    while !dir.exists() {
        dir = dir.parent()?;
    }
    fs4::available_space(dir).ok()
}

/// The space to keep free beyond the bytes still to download.
fn margin(remaining: u64) -> u64 {
    16_000_000 + remaining / 100
}

/// Fail with [`DownloadError::DiskFull`] when `remaining` bytes (plus a small
/// margin) do not fit in `available`; unknown free space passes.
pub(super) fn check_space(
    remaining: u64,
    available: Option<u64>,
    path: &Path,
) -> Result<(), DownloadError> {
    if remaining == 0 {
        return Ok(());
    }
    let needed = remaining.saturating_add(margin(remaining));
    match available {
        Some(available) if available < needed => Err(DownloadError::DiskFull {
            needed,
            available,
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_check() {
        let path = Path::new("/cache/hub");
        assert!(check_space(0, Some(0), path).is_ok());
        assert!(check_space(1_000_000_000, None, path).is_ok());
        assert!(check_space(1_000_000_000, Some(2_000_000_000), path).is_ok());
        // Exactly the bytes but no margin: refused.
        let err = check_space(5_100_000_000, Some(5_100_000_000), path).unwrap_err();
        match &err {
            DownloadError::DiskFull {
                needed,
                available,
                path: p,
            } => {
                assert!(*needed > 5_100_000_000 && *needed < 5_200_000_000);
                assert_eq!(*available, 5_100_000_000);
                assert_eq!(p, path);
            }
            other => panic!("{other:?}"),
        }
        let err = check_space(5_000_000_000, Some(2_000_000_000), path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "needs 5.1 GB free in /cache/hub but only 2.0 GB is free; free some space or set HF_HOME to a bigger disk"
        );
        // Absurd sizes saturate instead of overflowing.
        assert!(check_space(u64::MAX, Some(u64::MAX - 1), path).is_err());
    }

    #[test]
    fn free_space_of_a_missing_folder_uses_its_parent() {
        let dir = std::env::temp_dir().join("latent-studio-no-such-dir/a/b");
        assert!(available_space(&dir).is_some_and(|b| b > 0));
    }

    #[test]
    fn snapshot_links_are_relative_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let repo = cache_repo(&cache, "o/n", "main");
        let etag = "a".repeat(64);
        let commit = "c".repeat(40);
        let blob = repo.blob_path(&etag);
        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::write(&blob, b"hello").unwrap();
        let dest = link_snapshot(&repo, &commit, "unet/config.json", &etag).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        #[cfg(unix)]
        assert_eq!(
            fs::read_link(&dest).unwrap(),
            Path::new("../../../blobs").join(&etag)
        );
        // A stale link is replaced.
        let etag2 = "b".repeat(64);
        fs::write(repo.blob_path(&etag2), b"world").unwrap();
        link_snapshot(&repo, &commit, "unet/config.json", &etag2).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"world");
    }
}
