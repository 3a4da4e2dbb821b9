//! Crash-safe file creation: a reader (or a crash) sees either no file or
//! the complete one, and an existing file is never overwritten.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StorageError;

/// Create `dir/<stem>.<ext>` (or `<stem>-2.<ext>`, `-3`, ... when taken) with
/// the bytes `write` produces. The data goes to a hidden temporary file in
/// the same folder, is flushed to disk, and is then linked into place under
/// a name nobody has taken. Returns the final path.
pub fn create_new_file(
    dir: &Path,
    stem: &str,
    ext: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf, StorageError> {
    fs::create_dir_all(dir).map_err(|source| StorageError::Folder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let temp = temp_path(dir, ext);
    let written = write_and_sync(&temp, write);
    if let Err(source) = written {
        let _ = fs::remove_file(&temp);
        return Err(write_error(dir, &temp, source));
    }
    let result = publish(&temp, dir, stem, ext);
    let _ = fs::remove_file(&temp);
    let path = result?;
    sync_dir(dir);
    Ok(path)
}

/// Write `path` with the bytes `write` produces, replacing what is there:
/// the data goes to a temporary file beside it (flushed to disk) that is
/// then renamed over it, so a crash leaves the old file or the new one,
/// never a truncated one.
pub fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), StorageError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let ext = path.extension().unwrap_or_default().to_string_lossy();
    let temp = temp_path(dir, &ext);
    if let Err(source) = write_and_sync(&temp, write) {
        let _ = fs::remove_file(&temp);
        return Err(write_error(dir, path, source));
    }
    fs::rename(&temp, path).map_err(|source| {
        let _ = fs::remove_file(&temp);
        StorageError::Write {
            path: path.to_path_buf(),
            source,
        }
    })?;
    sync_dir(dir);
    Ok(())
}

/// A folder that refuses writes is the folder's problem (choose another);
/// anything else is the write's (space, I/O).
fn write_error(dir: &Path, path: &Path, source: io::Error) -> StorageError {
    match source.kind() {
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::ReadOnlyFilesystem
        | io::ErrorKind::NotFound => StorageError::Folder {
            dir: dir.to_path_buf(),
            source,
        },
        _ => StorageError::Write {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn write_and_sync(
    temp: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let file = File::options().write(true).create_new(true).open(temp)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Give the finished temporary file its final name. A hard link fails
/// atomically when the name exists, so two savers never clobber each other.
fn publish(temp: &Path, dir: &Path, stem: &str, ext: &str) -> Result<PathBuf, StorageError> {
    for n in 1..10_000u32 {
        let name = if n == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let path = dir.join(name);
        match fs::hard_link(temp, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // File systems without hard links (FAT, some network mounts):
            // a rename after an existence check is the best they allow.
            Err(_) if !path.exists() => {
                return fs::rename(temp, &path)
                    .map(|()| path.clone())
                    .map_err(|source| StorageError::Write { path, source });
            }
            Err(_) => continue,
        }
    }
    Err(StorageError::Write {
        path: dir.join(format!("{stem}.{ext}")),
        source: io::Error::new(
            io::ErrorKind::AlreadyExists,
            "too many files with this name",
        ),
    })
}

const TEMP_PREFIX: &str = ".latent-studio-";
const TEMP_SUFFIX: &str = ".partial";

fn temp_path(dir: &Path, ext: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    dir.join(format!("{TEMP_PREFIX}{pid}-{n}.{ext}{TEMP_SUFFIX}"))
}

/// Whether a file name is one of our in-progress temporaries (hidden, never
/// an image extension; one left behind means a save was killed midway).
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// Make the new directory entry itself durable (POSIX); best effort.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = create_new_file(dir.path(), "x", "txt", |w| w.write_all(b"one")).unwrap();
        let b = create_new_file(dir.path(), "x", "txt", |w| w.write_all(b"two")).unwrap();
        assert_eq!(a.file_name().unwrap(), "x.txt");
        assert_eq!(b.file_name().unwrap(), "x-2.txt");
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_failing_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let err = create_new_file(dir.path(), "x", "txt", |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn replacing_keeps_the_old_file_until_the_new_one_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.gif");
        fs::write(&path, b"old").unwrap();
        let failed = replace_file(&path, |w| {
            w.write_all(b"ne")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        replace_file(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let missing = replace_file(&dir.path().join("no/such/dir/x.png"), |w| w.write_all(b"x"));
        assert!(matches!(missing, Err(StorageError::Folder { .. })));
    }
}
