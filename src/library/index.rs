//! The index of favorites and history: an SQLite database of every saved
//! image (prompt, parameters, path, date, favorite flag, thumbnail) with
//! prompt search.
//!
//! The PNG files are the source of truth. The index is a cache of them:
//! [`Index::sync`] adds files that appeared (saved by us, or copied in by
//! hand), drops rows whose files are gone, and a missing or corrupt
//! database is simply rebuilt from the folders. A crash between writing a
//! file and indexing it therefore loses nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::library::folder_scan::{png_files, remove_stale_temporaries, thumbnail_png};
use crate::library::read_image_info;

/// Errors of the index. Messages say what happened to which file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database failed.
    #[error("library index {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// One indexed image.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// The PNG file.
    pub path: PathBuf,
    /// In the favorites folder (else history).
    pub favorite: bool,
    /// The prompt, when the file records one.
    pub prompt: String,
    /// The negative prompt.
    pub negative_prompt: String,
    /// The recorded parameters as JSON ([`crate::library::info::ImageInfo`]), if any.
    pub params_json: Option<String>,
    /// File modification time, seconds since the Unix epoch.
    pub created: i64,
    /// File size in bytes.
    pub bytes: u64,
}

/// What a sync changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Files newly indexed.
    pub added: usize,
    /// Rows dropped because their file is gone.
    pub removed: usize,
    /// History files deleted to stay under the size cap.
    pub evicted: usize,
}

/// The favorites + history index.
pub struct Index {
    conn: Connection,
    db_path: PathBuf,
    favorites_dir: PathBuf,
    history_dir: PathBuf,
    history_cap: u64,
}

impl Index {
    /// Open (or create) the index at `db_path` for these folders. A database
    /// that cannot be used (corrupt, foreign) is moved aside and rebuilt.
    /// `history_cap` bounds the history folder in bytes; favorites are never
    /// evicted.
    pub fn open(
        db_path: &Path,
        favorites_dir: &Path,
        history_dir: &Path,
        history_cap: u64,
    ) -> Result<Self, IndexError> {
        if let Some(dir) = db_path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = match open_db(db_path) {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("rebuilding the library index: {e}");
                let aside = db_path.with_extension("corrupt");
                let _ = std::fs::rename(db_path, &aside);
                open_db(db_path).map_err(|source| IndexError::Db {
                    path: db_path.to_path_buf(),
                    source,
                })?
            }
        };
        Ok(Self {
            conn,
            db_path: db_path.to_path_buf(),
            favorites_dir: favorites_dir.to_path_buf(),
            history_dir: history_dir.to_path_buf(),
            history_cap,
        })
    }

    fn db<T>(&self, r: rusqlite::Result<T>) -> Result<T, IndexError> {
        r.map_err(|source| IndexError::Db {
            path: self.db_path.clone(),
            source,
        })
    }

    /// Index another favorites folder from now on. Rows of the old folder
    /// stay (their files still exist) until they are deleted.
    pub fn set_favorites_dir(&mut self, dir: PathBuf) {
        self.favorites_dir = dir;
    }

    /// Bring the index in line with the folders: index new PNGs, drop rows
    /// of vanished files, remove stale temporaries, enforce the history cap.
    pub fn sync(&mut self) -> Result<SyncReport, IndexError> {
        let mut report = SyncReport::default();
        remove_stale_temporaries(&[&self.favorites_dir, &self.history_dir]);
        let known: Vec<(i64, String)> = {
            let mut stmt = self.db(self.conn.prepare("SELECT id, path FROM images"))?;
            let rows = self.db(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))))?;
            rows.filter_map(Result::ok).collect()
        };
        for (id, path) in &known {
            if !Path::new(path).is_file() {
                self.db(self.conn.execute("DELETE FROM images WHERE id = ?1", [id]))?;
                report.removed += 1;
            }
        }
        let known: std::collections::HashSet<String> = known.into_iter().map(|(_, p)| p).collect();
        for (dir, favorite) in [
            (self.favorites_dir.clone(), true),
            (self.history_dir.clone(), false),
        ] {
            for path in png_files(&dir) {
                if !known.contains(&path.to_string_lossy().into_owned())
                    && self.add(&path, favorite)?.is_some()
                {
                    report.added += 1;
                }
            }
        }
        report.evicted = self.enforce_history_cap()?;
        Ok(report)
    }

    /// Index one PNG file (after saving it). Returns `None` for files that
    /// are not readable images (left alone, not indexed).
    pub fn add(&mut self, path: &Path, favorite: bool) -> Result<Option<Entry>, IndexError> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(None);
        };
        let Some(thumb) = thumbnail_png(path) else {
            return Ok(None);
        };
        let info = read_image_info(path).ok();
        let prompt = info
            .as_ref()
            .and_then(|i| i.prompt.clone())
            .unwrap_or_default();
        let negative = info
            .as_ref()
            .and_then(|i| i.negative_prompt.clone())
            .unwrap_or_default();
        let params_json = info.as_ref().and_then(|i| serde_json::to_string(i).ok());
        let created = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let path_text = path.to_string_lossy().into_owned();
        self.db(self.conn.execute(
            "INSERT INTO images (path, favorite, prompt, negative_prompt, params, created, bytes, thumbnail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(path) DO UPDATE SET favorite = ?2, prompt = ?3, negative_prompt = ?4,
               params = ?5, created = ?6, bytes = ?7, thumbnail = ?8",
            params![path_text, favorite, prompt, negative, params_json, created, meta.len() as i64, thumb],
        ))?;
        let id = self.db(self.conn.query_row(
            "SELECT id FROM images WHERE path = ?1",
            [&path_text],
            |r| r.get(0),
        ))?;
        Ok(Some(Entry {
            id,
            path: path.to_path_buf(),
            favorite,
            prompt,
            negative_prompt: negative,
            params_json,
            created,
            bytes: meta.len(),
        }))
    }

    /// Newest first, optionally only favorites, whose prompt or negative
    /// prompt contains `query` (case-insensitive for ASCII).
    pub fn search(
        &self,
        query: &str,
        favorites_only: bool,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Entry>, IndexError> {
        let pattern = format!("%{}%", escape_like(query.trim()));
        let mut stmt = self.db(self.conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM images
             WHERE (prompt LIKE ?1 ESCAPE '\\' OR negative_prompt LIKE ?1 ESCAPE '\\')
               AND (?2 = 0 OR favorite = 1)
             ORDER BY created DESC, id DESC LIMIT ?3 OFFSET ?4"
        )))?;
        let rows = self.db(stmt.query_map(
            params![pattern, favorites_only, limit as i64, offset as i64],
            entry_from_row,
        ))?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    /// Entry `id`, if it exists.
    pub fn get(&self, id: i64) -> Result<Option<Entry>, IndexError> {
        self.db(self
            .conn
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM images WHERE id = ?1"),
                [id],
                entry_from_row,
            )
            .optional())
    }

    /// The stored thumbnail (PNG bytes) of entry `id`.
    pub fn thumbnail(&self, id: i64) -> Result<Option<Vec<u8>>, IndexError> {
        self.db(self
            .conn
            .query_row("SELECT thumbnail FROM images WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional())
    }

    /// Number of indexed images.
    pub fn len(&self) -> Result<usize, IndexError> {
        self.db(self
            .conn
            .query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as usize)
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> Result<bool, IndexError> {
        self.len().map(|n| n == 0)
    }

    /// Delete an image: its file, then its row. If the file cannot be
    /// removed, nothing changes.
    pub fn delete(&mut self, id: i64) -> Result<(), IndexError> {
        let path: Option<String> = self.db(self
            .conn
            .query_row("SELECT path FROM images WHERE id = ?1", [id], |r| r.get(0))
            .optional())?;
        let Some(path) = path else { return Ok(()) };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(IndexError::Io {
                    path: path.into(),
                    source,
                })
            }
        }
        self.db(self.conn.execute("DELETE FROM images WHERE id = ?1", [id]))?;
        Ok(())
    }

    /// Delete the oldest history images until the history folder is within
    /// its cap. Favorites are never touched. Returns how many were deleted.
    pub fn enforce_history_cap(&mut self) -> Result<usize, IndexError> {
        let total: i64 = self.db(self.conn.query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM images WHERE favorite = 0",
            [],
            |r| r.get(0),
        ))?;
        let cap = i64::try_from(self.history_cap).unwrap_or(i64::MAX);
        let mut over = total.saturating_sub(cap);
        if over <= 0 {
            return Ok(0);
        }
        let oldest: Vec<(i64, i64)> = {
            let mut stmt = self.db(self.conn.prepare(
                "SELECT id, bytes FROM images WHERE favorite = 0 ORDER BY created ASC, id ASC",
            ))?;
            let rows = self.db(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))))?;
            rows.filter_map(Result::ok).collect()
        };
        let mut evicted = 0;
        for (id, bytes) in oldest {
            if over <= 0 {
                break;
            }
            self.delete(id)?;
            over -= bytes;
            evicted += 1;
        }
        Ok(evicted)
    }
}

/// The columns [`entry_from_row`] reads, in order.
const ENTRY_COLUMNS: &str = "id, path, favorite, prompt, negative_prompt, params, created, bytes";

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        path: PathBuf::from(r.get::<_, String>(1)?),
        favorite: r.get(2)?,
        prompt: r.get(3)?,
        negative_prompt: r.get(4)?,
        params_json: r.get(5)?,
        created: r.get(6)?,
        bytes: r.get::<_, i64>(7)? as u64,
    })
}

fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE IF NOT EXISTS images (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            favorite INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            negative_prompt TEXT NOT NULL,
            params TEXT,
            created INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            thumbnail BLOB
         );
         CREATE INDEX IF NOT EXISTS images_created ON images(created);",
    )?;
    // A file that opens but is not our schema fails here, and is rebuilt.
    conn.query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
