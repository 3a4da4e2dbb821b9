//! Actions → engine jobs and background tasks.

use std::path::PathBuf;
use std::sync::Arc;

use super::start_image::{decode_start_image, with_thumbnail};
use crate::engine::{JobRequest, StartImage};
use crate::library::image_files::save_png;
use crate::storage::naming::image_stem;
use crate::ui::actions::Action;
use crate::ui::app::StudioApp;
use crate::ui::background::{DialogPurpose, Done};
use crate::ui::settings::{random_seed, VARY_STRENGTH};
use crate::ui::state::QueuedJob;

impl StudioApp {
    /// Carry out one action.
    pub fn perform(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            library @ (Action::ShowView(_)
            | Action::LibraryThumbnail(_)
            | Action::LibraryUseSettings(_)
            | Action::LibraryUseAsStart(_)
            | Action::LibraryOpen(_)
            | Action::LibraryReveal(_)
            | Action::LibraryUnstar(_)
            | Action::LibraryDelete(_)) => self.perform_library(library),
            Action::Generate => {
                self.studio.follow_live = true;
                self.generate();
            }
            Action::CancelRunning => {
                if let Some(live) = &self.studio.live {
                    self.engine.cancel(live.job);
                }
            }
            Action::CancelJob(job) => {
                self.engine.cancel(job);
                // A queued job disappears at once; the running one when it stops.
                if self.studio.live.as_ref().is_none_or(|l| l.job != job) {
                    self.studio.queue.retain(|q| q.id != job);
                }
            }
            Action::Select(i) => {
                if i < self.studio.gallery.len() {
                    self.studio.selected = Some(i);
                    self.studio.scrub = None;
                    // Looking at a result during a run: stay on it.
                    self.studio.follow_live = self.studio.live.is_none();
                }
            }
            Action::StepGallery(d) => self.studio.step_gallery(d),
            Action::StepTimeline(d) => self.studio.step_timeline(d),
            Action::Scrub(i) => self.studio.scrub = i,
            Action::FollowLive => {
                self.studio.follow_live = true;
                self.studio.scrub = None;
            }
            Action::ToggleStar(i) => self.toggle_star(i),
            Action::SaveCurrent => {
                if let Some(i) = self.studio.selected {
                    if !self.studio.gallery[i].starred {
                        self.toggle_star(i);
                    }
                }
            }
            Action::SaveAs(i) => self.save_dialog(i, DialogPurpose::SaveAs, ".png"),
            Action::ExportGif(i) => self.save_dialog(i, DialogPurpose::ExportGif, "_emergence.gif"),
            Action::UseSettings(i) => {
                if let Some(item) = self.studio.gallery.get(i) {
                    let result = item.result.clone();
                    self.studio.settings.choose_model(&result.model.to_string());
                    self.studio.settings.use_params(&result.params);
                }
            }
            Action::Vary(i) => {
                if let Some(item) = self.studio.gallery.get(i) {
                    let result = item.result.clone();
                    let mut params = result.params.clone();
                    params.seed = random_seed();
                    params.strength = VARY_STRENGTH;
                    let id = self.engine.submit(JobRequest {
                        model: result.model.clone(),
                        params: params.clone(),
                        start_image: Some(StartImage::Image(result.image.clone())),
                    });
                    self.studio.queue.push(QueuedJob {
                        id,
                        params,
                        img2img: true,
                    });
                }
            }
            Action::UseAsStart(i) => {
                if let Some(item) = self.studio.gallery.get(i) {
                    let image = item.result.image.clone();
                    let name = format!("Result {}", i + 1);
                    self.background
                        .spawn("start-image", move || Done::StartImage {
                            name,
                            image: Ok(with_thumbnail(image)),
                            found: None,
                        });
                }
            }
            Action::OpenStartImage => self.background.dialog(DialogPurpose::OpenStartImage, None),
            Action::LoadStartImage(path) => self.load_start_image(path),
            Action::UseFoundSettings => {
                if let Some(info) = self.studio.start.as_ref().and_then(|s| s.found.clone()) {
                    self.studio.settings.use_params(&info.to_params());
                }
            }
            Action::ClearStartImage => {
                self.cancel_lens_request();
                self.studio.start = None;
                self.textures.start_thumb = None;
                self.textures.lens.clear();
            }
            Action::ChooseModel(m) => {
                self.studio.settings.choose_model(&m);
                self.studio.model_input.clear();
            }
            Action::AddModelFolder => self.background.dialog(DialogPurpose::AddModelFolder, None),
            Action::AddCheckpoint => self.background.dialog(DialogPurpose::AddCheckpoint, None),
            Action::DownloadModel(id) => self.start_download(id),
            Action::CancelDownload(job) => self.engine.cancel(job),
            Action::ChooseFavoritesDir => self.background.dialog(DialogPurpose::FavoritesDir, None),
            Action::ChooseModelsDir => self.background.dialog(DialogPurpose::ModelsDir, None),
            Action::RescanModels => self.scan_models(),
        }
        ctx.request_repaint();
    }

    /// A save dialog for gallery item `i`, suggesting its date_prompt_seed name.
    fn save_dialog(&self, i: usize, purpose: fn(u64) -> DialogPurpose, suffix: &str) {
        if let Some(item) = self.studio.gallery.get(i) {
            let p = &item.result.params;
            let stem = image_stem(&p.prompt, p.seed, chrono::Local::now());
            self.background
                .dialog(purpose(item.id), Some(format!("{stem}{suffix}")));
        }
    }

    pub(super) fn generate(&mut self) {
        let settings = &self.studio.settings;
        let Some(model) = settings.model_source() else {
            self.studio.notifications.error(
                "No model chosen",
                "Pick a model in the Model menu, add a diffusers folder, or start with LATENT_STUDIO_MODEL set.",
            );
            return;
        };
        if settings.prompt.trim().is_empty() {
            self.studio.notifications.info(
                "Type a prompt first",
                "Describe the picture in the Prompt box.",
            );
            return;
        }
        let start_image = self
            .studio
            .start
            .as_ref()
            .map(|s| StartImage::Image(s.image.clone()));
        for index in 0..settings.batch.max(1) {
            let params = settings.params(index);
            if let Err(e) = params.validate() {
                self.studio
                    .notifications
                    .error("These settings cannot be used", e.one_line());
                return;
            }
            let id = self.engine.submit(JobRequest {
                model: model.clone(),
                params: params.clone(),
                start_image: start_image.clone(),
            });
            self.studio.queue.push(QueuedJob {
                id,
                params,
                img2img: start_image.is_some(),
            });
        }
        if !self.studio.settings.seed_locked {
            self.studio.settings.seed = random_seed();
        }
    }

    pub(super) fn toggle_star(&mut self, i: usize) {
        let Some(item) = self.studio.gallery.get_mut(i) else {
            return;
        };
        if item.starred {
            // Unstarring keeps the file: deleting favorites is the library's job, with a confirmation.
            item.starred = false;
            return;
        }
        item.starred = true;
        if item.saved_path.is_some() || item.saving {
            return;
        }
        item.saving = true;
        let (id, result) = (item.id, item.result.clone());
        let dir = self.studio.favorites_dir.clone();
        self.background.spawn("save", move || Done::Saved {
            id,
            favorite: true,
            result: save_png(&dir, &result.image, &result.params, &result.png_text())
                .map_err(|e| e.to_string()),
        });
    }

    pub(super) fn load_start_image(&mut self, path: PathBuf) {
        self.background.spawn("decode", move || {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let image = decode_start_image(&path).map(|i| with_thumbnail(Arc::new(i)));
            // Cheap: walks the PNG's chunks, never its pixels.
            let found = crate::library::read_image_info(&path).ok().map(Box::new);
            Done::StartImage { name, image, found }
        });
    }
}
