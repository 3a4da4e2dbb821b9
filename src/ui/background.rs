//! Work the window must not do on its own thread: file dialogs, decoding a
//! dropped image, saving, GIF export, preparing big textures, scanning for
//! models. Each task runs on a short-lived thread and reports back through
//! a channel, waking the window.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use egui::ColorImage;
use image::RgbImage;

use crate::ui::state::ModelChoice;

/// What a file dialog was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    /// Pick the start image.
    OpenStartImage,
    /// Save gallery item `id` as PNG.
    SaveAs(u64),
    /// Export gallery item `id`'s timeline as GIF.
    ExportGif(u64),
    /// Pick a diffusers model folder.
    AddModelFolder,
    /// Pick a single-file checkpoint to use as the model.
    AddCheckpoint,
    /// Pick the models folder.
    ModelsDir,
    /// Pick the favorites folder.
    FavoritesDir,
}

/// A finished background task.
pub enum Done {
    /// A file dialog closed (`None`: cancelled or no dialog available).
    Dialog(DialogPurpose, Option<PathBuf>),
    /// A start image was decoded (or could not be).
    StartImage {
        /// Name to show.
        name: String,
        /// The image and its thumbnail, or a message saying why it cannot be used.
        image: Result<(Arc<RgbImage>, ColorImage), String>,
        /// Generation parameters found in the file (ours, A1111, ComfyUI, InvokeAI).
        found: Option<Box<crate::library::info::ImageInfo>>,
    },
    /// Textures for gallery item `id` are ready to upload.
    Prepared {
        /// Gallery item.
        id: u64,
        /// Full-size image.
        full: ColorImage,
        /// Thumbnail.
        thumb: ColorImage,
    },
    /// Gallery item `id` was saved (star or Save as…).
    Saved {
        /// Gallery item.
        id: u64,
        /// Whether this was the favorites copy (star).
        favorite: bool,
        /// Where, or why not.
        result: Result<PathBuf, String>,
    },
    /// Something else finished with a message for the person.
    Message {
        /// Headline.
        title: String,
        /// `Ok(detail)` or `Err(error)`.
        result: Result<String, String>,
    },
    /// Finished with nothing to report.
    Quiet,
    /// A finished image was written to the history folder.
    KeptInHistory(PathBuf),
    /// The scan for installed models finished.
    Models(ModelScan),
    /// The prompt tokenizer is loaded.
    Tokenizer(Result<Arc<crate::models::tokenizer::ClipTokenizer>, String>),
}

/// Runs tasks off the UI thread and collects their results.
pub struct Background {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    ctx: egui::Context,
    running: Arc<std::sync::atomic::AtomicUsize>,
}

impl Background {
    /// Results wake `ctx`.
    pub fn new(ctx: egui::Context) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            tx,
            rx,
            ctx,
            running: Arc::default(),
        }
    }

    /// Run `task` on its own thread.
    pub fn spawn(&self, name: &str, task: impl FnOnce() -> Done + Send + 'static) {
        use std::sync::atomic::Ordering;
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        let running = self.running.clone();
        running.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name(format!("studio-{name}"))
            .spawn(move || {
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
                    .unwrap_or_else(|_| Done::Message {
                        title: "Internal error".into(),
                        result: Err("a background task crashed".into()),
                    });
                let _ = tx.send(done);
                running.fetch_sub(1, Ordering::SeqCst);
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.running.fetch_sub(1, Ordering::SeqCst);
            let _ = self.tx.send(Done::Message {
                title: "Could not start a background task".into(),
                result: Err("the system refused to start a thread".into()),
            });
        }
    }

    /// Open a native file dialog on a background thread.
    pub fn dialog(&self, purpose: DialogPurpose, default_name: Option<String>) {
        self.spawn("dialog", move || {
            let dialog = rfd::FileDialog::new();
            let picked = match purpose {
                DialogPurpose::OpenStartImage => dialog
                    .add_filter("Images", &["png", "jpg", "jpeg", "webp", "bmp", "gif"])
                    .set_title("Open start image")
                    .pick_file(),
                DialogPurpose::SaveAs(_) => dialog
                    .add_filter("PNG image", &["png"])
                    .set_file_name(default_name.unwrap_or_else(|| "image.png".into()))
                    .save_file(),
                DialogPurpose::ExportGif(_) => dialog
                    .add_filter("Animated GIF", &["gif"])
                    .set_file_name(default_name.unwrap_or_else(|| "emergence.gif".into()))
                    .save_file(),
                DialogPurpose::AddModelFolder => dialog
                    .set_title("Choose a diffusers model folder (with model_index.json)")
                    .pick_folder(),
                DialogPurpose::AddCheckpoint => dialog
                    .set_title("Choose a Stable Diffusion checkpoint")
                    .add_filter("safetensors checkpoint", &["safetensors"])
                    .pick_file(),
                DialogPurpose::ModelsDir => dialog
                    .set_title("Folder with your model files")
                    .pick_folder(),
                DialogPurpose::FavoritesDir => {
                    dialog.set_title("Folder for starred images").pick_folder()
                }
            };
            Done::Dialog(purpose, picked)
        });
    }

    /// Tasks still running (tests wait for zero).
    pub fn running(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Results that arrived since the last call.
    pub fn drain(&self) -> Vec<Done> {
        self.rx.try_iter().collect()
    }
}

/// What the scan for models found.
#[derive(Debug, Clone, Default)]
pub struct ModelScan {
    /// Models to choose from.
    pub models: Vec<ModelChoice>,
    /// Installed catalog extras (preview decoders, VAEs), by id.
    pub extras: Vec<&'static str>,
    /// Catalog entries partly in the cache (an interrupted download), by id,
    /// with the fraction there.
    pub partial: Vec<(&'static str, f32)>,
}
