//! A checkpoint file's hash as AUTOMATIC1111 shows it ("Model hash", the
//! first 10 hex digits of the file's SHA-256, which Civitai calls AutoV2), so
//! an image says exactly which file made it and other tools can match it.
//!
//! Hashing a 2–7 GB file takes seconds, so results are kept in a small JSON
//! cache keyed by path, size and modification time.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Hex digits A1111 writes.
const SHORT: usize = 10;

/// One remembered hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Entry {
    size: u64,
    modified_secs: u64,
    sha256: String,
}

/// Where the hashes are remembered (`~/.cache/latent-studio/model-hashes.json`).
pub fn default_cache() -> PathBuf {
    directories::ProjectDirs::from("", "", "latent-studio")
        .map(|d| d.cache_dir().join("model-hashes.json"))
        .unwrap_or_else(|| std::env::temp_dir().join("latent-studio-model-hashes.json"))
}

/// The file's short hash, from `cache` when the file has not changed since,
/// else computed (and remembered; a cache that cannot be written only costs
/// the next computation).
pub fn short_hash(file: &Path, cache: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(file)?;
    let size = meta.len();
    let modified_secs = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let key = file
        .canonicalize()
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    let mut known: BTreeMap<String, Entry> = std::fs::read(cache)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if let Some(e) = known.get(&key) {
        if e.size == size && e.modified_secs == modified_secs {
            return Ok(e.sha256[..SHORT.min(e.sha256.len())].to_string());
        }
    }
    let sha256 = sha256_file(file)?;
    let short = sha256[..SHORT].to_string();
    known.insert(
        key,
        Entry {
            size,
            modified_secs,
            sha256,
        },
    );
    if let Ok(json) = serde_json::to_vec_pretty(&known) {
        if let Some(dir) = cache.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::storage::atomic::replace_file(cache, |w| w.write_all(&json));
    }
    Ok(short)
}

fn sha256_file(file: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(file)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256sum_and_remembers_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        let cache = dir.path().join("cache/hashes.json");
        std::fs::write(&file, b"abc").unwrap();
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(short_hash(&file, &cache).unwrap(), "ba7816bf8f");
        assert!(cache.is_file());
        // A remembered entry is used as is (proved by planting a fake one).
        let text = std::fs::read_to_string(&cache).unwrap();
        std::fs::write(&cache, text.replace("ba7816bf8f", "0000000000")).unwrap();
        assert_eq!(short_hash(&file, &cache).unwrap(), "0000000000");
        // A changed file is hashed again.
        std::fs::write(&file, b"abcd").unwrap();
        assert_eq!(short_hash(&file, &cache).unwrap(), "88d4266fd4");
    }
}
