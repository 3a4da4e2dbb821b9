//! Background task results → state, and the tasks started at launch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::library::emergence_gif::{save_emergence, FRAME_TIME};
use crate::library::image_files::{save_png, save_png_to};
use crate::models::source::ModelSource;
use crate::ui::app::StudioApp;
use crate::ui::background::{DialogPurpose, Done, ModelScan};
use crate::ui::state::{GalleryItem, ModelChoice, StartImageState};
use crate::ui::textures::{rgb_to_color_image, thumbnail, ItemTextures};

/// Longest side of gallery thumbnails, in pixels.
const THUMB_SIDE: u32 = 160;

impl StudioApp {
    pub(crate) fn start_background_loads(&mut self, scan_models: bool) {
        self.background.spawn("tokenizer", || {
            Done::Tokenizer(
                crate::models::tokenizer::ClipTokenizer::bundled(
                    crate::models::tokenizer::Pad::EndOfText,
                )
                .map(Arc::new)
                .map_err(|e| e.one_line()),
            )
        });
        if scan_models {
            self.scan_models();
        } else {
            self.studio.models_scanned = true;
        }
    }

    /// Look for installed models off the UI thread (it reads file headers).
    pub(crate) fn scan_models(&mut self) {
        let recent = self.studio.settings.recent_models.clone();
        let dir = self.studio.settings.models_dir();
        let fp16 = self.engine.computes_in_f16();
        self.background.spawn("models", move || {
            use crate::models::{catalog::CATALOG, install};
            let mut scan = ModelScan {
                models: scan_models_on_disk(&recent, &dir),
                ..ModelScan::default()
            };
            for entry in CATALOG {
                if install::installed(entry).is_some() {
                    if !entry.is_pipeline() {
                        scan.extras.push(entry.id);
                    }
                } else if let Some(part) = install::partly_downloaded(entry, fp16) {
                    scan.partial.push((entry.id, part));
                }
            }
            Done::Models(scan)
        });
    }

    pub(crate) fn drain_background(&mut self, ctx: &egui::Context) {
        for done in self.background.drain() {
            self.handle_done(ctx, done);
        }
    }

    pub(super) fn handle_done(&mut self, ctx: &egui::Context, done: Done) {
        match done {
            Done::Dialog(purpose, Some(path)) => self.dialog_picked(purpose, path),
            Done::Dialog(..) => {}
            Done::StartImage { name, image, found } => match image {
                Ok((image, thumb)) => {
                    self.cancel_lens_request();
                    let id = self.next_id();
                    self.textures.start_thumb = Some((
                        id,
                        ctx.load_texture(
                            format!("start-{id}"),
                            thumb,
                            egui::TextureOptions::LINEAR,
                        ),
                    ));
                    self.textures.lens.clear();
                    self.textures.lens_shown = None;
                    let mut start = StartImageState::new(image, name, id);
                    start.found = found.map(|b| *b);
                    self.studio.start = Some(start);
                }
                Err(e) => self
                    .studio
                    .notifications
                    .error(format!("Could not use {name} as the start image"), e),
            },
            Done::Prepared { id, full, thumb } => {
                let full_options = crate::ui::textures::options_for(full.size);
                let thumb_options = crate::ui::textures::options_for(thumb.size);
                let textures = ItemTextures {
                    full: ctx.load_texture(format!("item-{id}"), full, full_options),
                    thumb: ctx.load_texture(format!("thumb-{id}"), thumb, thumb_options),
                };
                self.textures.items.insert(id, textures);
            }
            Done::Saved {
                id,
                favorite,
                result,
            } => {
                let item = self.studio.gallery.iter_mut().find(|g| g.id == id);
                match (result, item) {
                    (Ok(path), Some(item)) => {
                        if favorite {
                            item.saving = false;
                            item.saved_path = Some(path.clone());
                            self.index_saved(path.clone(), true);
                        }
                        self.studio
                            .notifications
                            .info("Saved", path.display().to_string());
                    }
                    (Err(e), item) => {
                        if let Some(item) = item.filter(|_| favorite) {
                            item.saving = false;
                            item.starred = false;
                        }
                        self.studio
                            .notifications
                            .error("Could not save the image", e);
                    }
                    (Ok(_), None) => {}
                }
            }
            Done::Message { title, result } => match result {
                Ok(detail) => self.studio.notifications.info(title, detail),
                Err(e) => self.studio.notifications.error(title, e),
            },
            Done::Models(scan) => {
                self.studio.models = scan.models;
                self.studio.installed_extras = scan.extras;
                self.studio.partial_downloads = scan.partial;
                self.studio.models_scanned = true;
                if self.studio.settings.model.is_empty() {
                    if let Some(first) = self.studio.models.first() {
                        let first = first.value.clone();
                        self.studio.settings.choose_model(&first);
                    }
                }
            }
            Done::Quiet => {}
            Done::KeptInHistory(path) => self.index_saved(path, false),
            Done::Tokenizer(Ok(t)) => self.tokenizer = Some(t),
            Done::Tokenizer(Err(e)) => log::warn!("token counter unavailable: {e}"),
        }
    }

    pub(super) fn dialog_picked(&mut self, purpose: DialogPurpose, path: PathBuf) {
        let find = |id| {
            self.studio
                .gallery
                .iter()
                .find(|g| g.id == id)
                .map(|g| g.result.clone())
        };
        match purpose {
            DialogPurpose::OpenStartImage => self.load_start_image(path),
            DialogPurpose::SaveAs(id) => {
                if let Some(result) = find(id) {
                    self.background.spawn("save-as", move || Done::Saved {
                        id,
                        favorite: false,
                        result: save_png_to(&path, &result.image, &result.png_text())
                            .map(|()| path)
                            .map_err(|e| e.to_string()),
                    });
                }
            }
            DialogPurpose::ExportGif(id) => {
                if let Some(result) = find(id) {
                    self.background.spawn("gif", move || Done::Message {
                        title: "Exported the emergence GIF".into(),
                        result: save_emergence(&path, &result.previews, &result.image, FRAME_TIME)
                            .map(|()| path.display().to_string())
                            .map_err(|e| e.to_string()),
                    });
                }
            }
            DialogPurpose::AddModelFolder => self.add_local_model(&path, "folder"),
            DialogPurpose::AddCheckpoint => self.add_local_model(&path, "checkpoint"),
            DialogPurpose::ModelsDir => {
                self.studio.settings.models_dir = Some(path.clone());
                self.scan_models();
            }
            DialogPurpose::FavoritesDir => {
                self.studio.settings.favorites_dir = Some(path.clone());
                self.studio.favorites_dir = path.clone();
                if let Some(link) = &self.library {
                    link.send(crate::ui::library_link::LibraryRequest::SetFavorites(path));
                }
            }
        }
    }

    /// Offer a model folder or checkpoint file in the picker and choose it.
    pub(crate) fn add_local_model(&mut self, path: &Path, origin: &str) {
        let value = path.display().to_string();
        if !self.studio.models.iter().any(|m| m.value == value) {
            self.studio
                .models
                .push(ModelChoice::new(value.clone(), origin));
        }
        self.studio.settings.choose_model(&value);
    }

    pub(super) fn prepare_item_textures(&self, item: &GalleryItem) {
        let (id, image) = (item.id, item.result.image.clone());
        self.background.spawn("prepare", move || Done::Prepared {
            id,
            full: rgb_to_color_image(&image),
            thumb: rgb_to_color_image(&thumbnail(&image, THUMB_SIDE)),
        });
    }

    /// Every finished image goes to the history folder at once, so a crash
    /// or kill loses at most the image being generated.
    pub(super) fn keep_in_history(&self, item: &GalleryItem) {
        let Some(dir) = self.history_dir.clone() else {
            return;
        };
        let result = item.result.clone();
        self.background.spawn("history", move || {
            match save_png(&dir, &result.image, &result.params, &result.png_text()) {
                Ok(path) => Done::KeptInHistory(path),
                Err(e) => Done::Message {
                    title: "Could not keep the image in the history folder".into(),
                    result: Err(e.to_string()),
                },
            }
        });
    }
}

/// Models on this machine: `LATENT_STUDIO_MODEL`, recent folders and
/// checkpoints that still exist, the models folder, catalog (and older
/// well-known) repositories already in the Hugging Face cache, and the
/// built-in emoji model.
pub(crate) fn scan_models_on_disk(recent: &[String], models_dir: &Path) -> Vec<ModelChoice> {
    let mut found: Vec<ModelChoice> = Vec::new();
    let mut add = |value: String, origin: &str| {
        if !found.iter().any(|m| m.value == value) {
            found.push(ModelChoice::new(value, origin));
        }
    };
    if let Ok(m) = std::env::var("LATENT_STUDIO_MODEL") {
        if !m.trim().is_empty() {
            add(m.trim().to_string(), "LATENT_STUDIO_MODEL");
        }
    }
    for m in recent {
        match ModelSource::parse(m) {
            ModelSource::Folder(p) if p.join("model_index.json").is_file() => {
                add(m.clone(), "folder")
            }
            ModelSource::Checkpoint(p) if p.is_file() => add(m.clone(), "checkpoint"),
            _ => {}
        }
    }
    for model in crate::models::files::models_in_folder(models_dir) {
        add(model.to_string(), "models folder");
    }
    for id in crate::models::install::installed_models() {
        add(id.to_string(), "hub cache");
    }
    // Always offered, last: a model the user installed is the better default.
    if crate::models::builtin::folder().is_some() {
        add(crate::models::builtin::ID.to_string(), "64 px emoji");
    }
    found
}
