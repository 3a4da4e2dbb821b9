//! Checks on the names a request carries (repository ids, revisions, file
//! paths), so nothing from a listing or a user can reach outside the cache.

use super::DownloadError;

/// `len` ASCII hex digits.
pub(super) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `name` or `owner/name`, hub characters only.
pub(super) fn check_repo_id(repo: &str) -> Result<(), DownloadError> {
    let parts: Vec<&str> = repo.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && repo.len() <= 200
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(DownloadError::InvalidRequest(format!(
            "`{repo}` is not a hub repository id (owner/name)"
        )))
    }
}

/// A relative path of `/`-separated names that stays inside its folder.
pub(super) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part
                    .chars()
                    .any(|c| c.is_control() || c == '\\' || (cfg!(windows) && c == ':'))
        })
}

/// A branch, tag or commit usable as a file name under `refs/`.
pub(super) fn check_revision(revision: &str) -> Result<(), DownloadError> {
    if is_safe_relative(revision) && revision.len() <= 256 {
        Ok(())
    } else {
        Err(DownloadError::InvalidRequest(format!(
            "`{revision}` is not a usable revision"
        )))
    }
}

/// A file path inside a repository.
pub(super) fn check_file(file: &str) -> Result<(), DownloadError> {
    if is_safe_relative(file) {
        Ok(())
    } else {
        Err(DownloadError::InvalidRequest(format!(
            "`{file}` is not a relative file path inside the repository"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["gpt2", "stabilityai/sd-turbo", "a.b/c_d-1"] {
            assert!(check_repo_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/x", "a/", "a/b/c", "../x", "a/..", "a b/c", "a\\b"] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
        for ok in ["main", "refs/pr/1", "v1.0", "unet/config.json", "a..b"] {
            assert!(is_safe_relative(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "a\\..\\b",
            "a\nb",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
        assert!(is_hex(&"ab".repeat(20), 40));
        assert!(!is_hex(&"xy".repeat(20), 40));
        assert!(!is_hex("abc", 40));
    }
}
