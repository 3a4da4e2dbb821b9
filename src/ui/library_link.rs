//! The window's connection to the library index: a thread that owns the
//! SQLite [`Index`] and answers requests, so searching, thumbnails, deleting
//! and indexing new files never touch the disk on the UI thread.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender};
use egui::ColorImage;

use crate::library::index::{Entry, Index, SyncReport};

/// Default size cap of the history folder.
const HISTORY_CAP: u64 = 2 << 30;

/// What the window asks of the library.
#[derive(Debug, Clone)]
pub enum LibraryRequest {
    /// Re-scan the folders (at start).
    Sync,
    /// A file was just saved: index it (and keep history within its cap).
    Indexed {
        /// The PNG.
        path: PathBuf,
        /// Saved into favorites (else history).
        favorite: bool,
    },
    /// Search prompts, newest first.
    Search {
        /// Text to find in prompts.
        query: String,
        /// Favorites only.
        favorites_only: bool,
        /// Echoed back so stale answers can be dropped.
        generation: u64,
    },
    /// The thumbnail of an entry.
    Thumbnail(i64),
    /// Delete the file and its row.
    Delete(i64),
    /// Move a favorite back into history.
    Unstar(i64),
    /// The favorites folder changed: index that one from now on.
    SetFavorites(PathBuf),
}

/// What the library answers.
pub enum LibraryEvent {
    /// Sync finished.
    Synced(SyncReport),
    /// Search results.
    Results {
        /// The request's generation.
        generation: u64,
        /// Matching entries, newest first.
        entries: Vec<Entry>,
    },
    /// A thumbnail is ready.
    Thumbnail {
        /// The entry.
        id: i64,
        /// Its pixels.
        image: ColorImage,
    },
    /// Something changed; searches should be repeated.
    Changed,
    /// A request failed.
    Error(String),
}

/// Handle to the library thread.
pub struct LibraryLink {
    tx: Sender<LibraryRequest>,
    rx: Receiver<LibraryEvent>,
}

/// Most results one search returns (the grid shows them lazily).
const MAX_RESULTS: usize = 10_000;

impl LibraryLink {
    /// Start the thread; it opens (or rebuilds) the index at `db`.
    pub fn spawn(db: PathBuf, favorites: PathBuf, history: PathBuf, ctx: egui::Context) -> Self {
        let (tx, requests) = crossbeam_channel::unbounded::<LibraryRequest>();
        let (events, rx) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new()
            .name("studio-library".into())
            .spawn(move || {
                let send = |e: LibraryEvent| {
                    let _ = events.send(e);
                    ctx.request_repaint();
                };
                let mut index = match Index::open(&db, &favorites, &history, HISTORY_CAP) {
                    Ok(i) => i,
                    Err(e) => {
                        send(LibraryEvent::Error(format!(
                            "the library is unavailable: {e}"
                        )));
                        return;
                    }
                };
                for request in requests {
                    if let Some(event) = handle(&mut index, &history, request) {
                        send(event);
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("library thread did not start: {e}");
        }
        Self { tx, rx }
    }

    /// Queue a request.
    pub fn send(&self, request: LibraryRequest) {
        let _ = self.tx.send(request);
    }

    /// Answers that arrived since the last call.
    pub fn drain(&self) -> Vec<LibraryEvent> {
        self.rx.try_iter().collect()
    }
}

fn handle(
    index: &mut Index,
    history: &std::path::Path,
    request: LibraryRequest,
) -> Option<LibraryEvent> {
    let failed = |e: &dyn std::fmt::Display| Some(LibraryEvent::Error(e.to_string()));
    match request {
        LibraryRequest::Sync => match index.sync() {
            Ok(report) => Some(LibraryEvent::Synced(report)),
            Err(e) => failed(&e),
        },
        LibraryRequest::Indexed { path, favorite } => {
            let result = index
                .add(&path, favorite)
                .and_then(|_| index.enforce_history_cap());
            match result {
                Ok(_) => Some(LibraryEvent::Changed),
                Err(e) => failed(&e),
            }
        }
        LibraryRequest::Search {
            query,
            favorites_only,
            generation,
        } => match index.search(&query, favorites_only, MAX_RESULTS, 0) {
            Ok(entries) => Some(LibraryEvent::Results {
                generation,
                entries,
            }),
            Err(e) => failed(&e),
        },
        LibraryRequest::Thumbnail(id) => {
            let png = index.thumbnail(id).ok().flatten()?;
            let rgba = image::load_from_memory(&png).ok()?.to_rgba8();
            let size = [rgba.width() as usize, rgba.height() as usize];
            Some(LibraryEvent::Thumbnail {
                id,
                image: ColorImage::from_rgba_unmultiplied(size, rgba.as_raw()),
            })
        }
        LibraryRequest::Delete(id) => match index.delete(id) {
            Ok(()) => Some(LibraryEvent::Changed),
            Err(e) => failed(&e),
        },
        LibraryRequest::SetFavorites(dir) => {
            index.set_favorites_dir(dir);
            match index.sync() {
                Ok(_) => Some(LibraryEvent::Changed),
                Err(e) => failed(&e),
            }
        }
        LibraryRequest::Unstar(id) => match unstar(index, history, id) {
            Ok(()) => Some(LibraryEvent::Changed),
            Err(e) => failed(&e),
        },
    }
}

/// Move a favorite's file into the history folder and re-index it there.
fn unstar(index: &mut Index, history: &std::path::Path, id: i64) -> Result<(), String> {
    let entry = index
        .get(id)
        .map_err(|e| e.to_string())?
        .filter(|e| e.favorite)
        .ok_or("that image is no longer a favorite")?;
    std::fs::create_dir_all(history).map_err(|e| e.to_string())?;
    let name = entry.path.file_name().ok_or("bad file name")?;
    let mut target = history.join(name);
    let mut n = 2;
    while target.exists() {
        let stem = entry.path.file_stem().unwrap_or_default().to_string_lossy();
        target = history.join(format!("{stem}-{n}.png"));
        n += 1;
    }
    // Rename (same disk) or copy + delete; the file is never absent from both.
    if std::fs::rename(&entry.path, &target).is_err() {
        std::fs::copy(&entry.path, &target).map_err(|e| e.to_string())?;
        std::fs::remove_file(&entry.path).map_err(|e| e.to_string())?;
    }
    index.sync().map_err(|e| e.to_string())?;
    Ok(())
}
