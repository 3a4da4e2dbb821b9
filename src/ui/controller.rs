//! The controller: turns actions into engine jobs and background tasks, and
//! engine events / task results into state changes. Nothing here blocks:
//! engine calls are channel sends, everything slow goes to [`Background`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diffusion::decay::DecayLens;
use crate::diffusion::image_io::load_rgb;
use crate::diffusion::rng::RngKind;
use crate::engine::{EncodeRequest, Event, JobRequest, StartImage};
use crate::models::files::ModelSource;
use crate::storage::emergence_gif::save_emergence;
use crate::storage::image_files::{save_png, save_png_to};
use crate::storage::naming::image_stem;
use crate::ui::actions::Action;
use crate::ui::app::StudioApp;
use crate::ui::background::{DialogPurpose, Done};
use crate::ui::settings::{random_seed, VARY_STRENGTH};
use crate::ui::state::{GalleryItem, LensKey, LiveRun, ModelChoice, QueuedJob, StartImageState};
use crate::ui::textures::{preview_to_color_image, rgb_to_color_image, thumbnail, ItemTextures};

/// Longest side of gallery thumbnails, in pixels.
const THUMB_SIDE: u32 = 160;
/// Longest side of the start image thumbnail.
const START_THUMB_SIDE: u32 = 256;
/// Seconds per frame of the exported emergence GIF.
const GIF_FRAME: std::time::Duration = std::time::Duration::from_millis(150);

impl StudioApp {
    // ----- engine events -------------------------------------------------------------

    pub(crate) fn drain_engine(&mut self, ctx: &egui::Context) {
        let events: Vec<Event> = self.engine.events().try_iter().collect();
        for event in events {
            self.handle_event(ctx, event);
        }
    }

    fn handle_event(&mut self, ctx: &egui::Context, event: Event) {
        let studio = &mut self.studio;
        let is_generation = |job| studio.queue.iter().any(|q| q.id == job);
        match event {
            Event::ModelLoading {
                job,
                what,
                progress,
            } if is_generation(job) => {
                self.live_run(job).loading = Some((what, progress));
            }
            Event::ModelLoading { .. } => {}
            Event::Started { job, total_steps } => {
                let live = self.live_run(job);
                live.loading = None;
                live.total = total_steps;
                self.studio.scrub = None;
            }
            Event::Step {
                job,
                step,
                total,
                preview,
                elapsed,
            } => {
                let live = self.live_run(job);
                live.step = step;
                live.total = total;
                live.elapsed = elapsed;
                live.previews.push(preview);
                self.live_dirty = true;
            }
            Event::Finished { job, result } => {
                self.finish_job(job);
                let id = self.next_id();
                let item = GalleryItem {
                    id,
                    result: Arc::from(result),
                    starred: false,
                    saved_path: None,
                    saving: false,
                };
                self.prepare_item_textures(&item);
                self.keep_in_history(&item);
                self.studio.gallery.push(item);
                self.studio.selected = Some(self.studio.gallery.len() - 1);
                self.studio.scrub = None;
            }
            Event::Cancelled { job } => {
                if self.studio.live.as_ref().is_some_and(|l| l.job == job) {
                    self.studio.notifications.info("Cancelled", "");
                }
                self.finish_job(job);
                self.forget_lens_request(job, None);
            }
            Event::Failed { job, error } => {
                if self.forget_lens_request(job, Some(&error)) {
                    return;
                }
                if self.studio.queue.iter().any(|q| q.id == job) {
                    self.studio.notifications.error("Generation failed", error);
                }
                self.finish_job(job);
            }
            Event::StartEncoded { job, latent } => {
                let seed = self.studio.settings.seed;
                if let Some(start) = &mut self.studio.start {
                    if let Some((pending, key)) = start.lens_request.take_if(|(j, _)| *j == job) {
                        start.lens =
                            Some(DecayLens::new((*latent).clone(), seed, RngKind::TorchCpu));
                        start.lens_key = Some(key);
                        start.lens_error = None;
                        start.lens_synced_to = None;
                        let _ = pending;
                    }
                }
            }
            Event::WorkerDied { message } => {
                self.studio.notifications.error(
                    "The engine stopped and was restarted",
                    format!("{message}. Queued images were dropped; press Generate again."),
                );
                self.studio.queue.clear();
                self.studio.live = None;
                if let Some(start) = &mut self.studio.start {
                    start.lens_request = None;
                }
                if let Err(e) = self.engine.restart() {
                    self.studio
                        .notifications
                        .error("Could not restart the engine", e.one_line());
                }
            }
        }
        ctx.request_repaint();
    }

    /// The live run for `job`, started if this is its first event.
    fn live_run(&mut self, job: crate::engine::JobId) -> &mut LiveRun {
        if self.studio.live.as_ref().is_none_or(|l| l.job != job) {
            self.studio.live = Some(LiveRun::new(job));
        }
        self.studio.live.as_mut().expect("set above")
    }

    fn finish_job(&mut self, job: crate::engine::JobId) {
        self.studio.queue.retain(|q| q.id != job);
        if self.studio.live.as_ref().is_some_and(|l| l.job == job) {
            self.studio.live = None;
            self.textures.live.clear();
        }
    }

    /// If `job` was a lens encode, forget it (recording `error`); returns
    /// whether it was one.
    fn forget_lens_request(&mut self, job: crate::engine::JobId, error: Option<&str>) -> bool {
        let Some(start) = &mut self.studio.start else {
            return false;
        };
        match start.lens_request.take_if(|(j, _)| *j == job) {
            Some((_, key)) => {
                if let Some(e) = error {
                    start.lens_error = Some(e.to_string());
                    // Remember the failure so the same encode is not retried every frame.
                    start.lens_key = Some(key);
                    start.lens = None;
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn upload_live_preview(&mut self, ctx: &egui::Context) {
        self.live_dirty = false;
        if let Some(preview) = self.studio.live.as_ref().and_then(|l| l.previews.last()) {
            self.textures
                .live
                .update(ctx, preview_to_color_image(preview));
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ----- actions -------------------------------------------------------------------

    /// Carry out one action.
    pub fn perform(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Generate => self.generate(),
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
                }
            }
            Action::StepGallery(d) => self.studio.step_gallery(d),
            Action::StepTimeline(d) => self.studio.step_timeline(d),
            Action::Scrub(i) => self.studio.scrub = i,
            Action::ToggleStar(i) => self.toggle_star(i),
            Action::SaveCurrent => {
                if let Some(i) = self.studio.selected {
                    if !self.studio.gallery[i].starred {
                        self.toggle_star(i);
                    }
                }
            }
            Action::SaveAs(i) => {
                if let Some(item) = self.studio.gallery.get(i) {
                    let p = &item.result.params;
                    let name = format!(
                        "{}.png",
                        image_stem(&p.prompt, p.seed, chrono::Local::now())
                    );
                    self.background
                        .dialog(DialogPurpose::SaveAs(item.id), Some(name));
                }
            }
            Action::ExportGif(i) => {
                if let Some(item) = self.studio.gallery.get(i) {
                    let p = &item.result.params;
                    let name = format!(
                        "{}_emergence.gif",
                        image_stem(&p.prompt, p.seed, chrono::Local::now())
                    );
                    self.background
                        .dialog(DialogPurpose::ExportGif(item.id), Some(name));
                }
            }
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
                            image: Ok(image),
                        });
                }
            }
            Action::OpenStartImage => self.background.dialog(DialogPurpose::OpenStartImage, None),
            Action::LoadStartImage(path) => self.load_start_image(path),
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
            Action::ChooseFavoritesDir => self.background.dialog(DialogPurpose::FavoritesDir, None),
        }
        ctx.request_repaint();
    }

    fn generate(&mut self) {
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

    fn toggle_star(&mut self, i: usize) {
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
            result: save_png(&dir, &result.image, &result.params).map_err(|e| e.to_string()),
        });
    }

    fn load_start_image(&mut self, path: PathBuf) {
        self.background.spawn("decode", move || {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let image = decode_start_image(&path).map(Arc::new);
            Done::StartImage { name, image }
        });
    }

    // ----- background results --------------------------------------------------------

    pub(crate) fn drain_background(&mut self, ctx: &egui::Context) {
        for done in self.background.drain() {
            self.handle_done(ctx, done);
        }
    }

    fn handle_done(&mut self, ctx: &egui::Context, done: Done) {
        match done {
            Done::Dialog(purpose, Some(path)) => self.dialog_picked(purpose, path),
            Done::Dialog(..) => {}
            Done::StartImage { name, image } => match image {
                Ok(image) => {
                    self.cancel_lens_request();
                    let id = self.next_id();
                    let thumb = rgb_to_color_image(&thumbnail(&image, START_THUMB_SIDE));
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
                    self.studio.start = Some(StartImageState::new(image, name, id));
                }
                Err(e) => self
                    .studio
                    .notifications
                    .error(format!("Could not use {name} as the start image"), e),
            },
            Done::Prepared { id, full, thumb } => {
                let opts = egui::TextureOptions::LINEAR;
                let textures = ItemTextures {
                    full: ctx.load_texture(format!("item-{id}"), full, opts),
                    thumb: ctx.load_texture(format!("thumb-{id}"), thumb, opts),
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
            Done::Models(found) => {
                self.studio.models = found;
                self.studio.models_scanned = true;
                if self.studio.settings.model.is_empty() {
                    if let Some(first) = self.studio.models.first() {
                        let first = first.value.clone();
                        self.studio.settings.choose_model(&first);
                    }
                }
            }
            Done::Quiet => {}
            Done::Tokenizer(Ok(t)) => self.tokenizer = Some(t),
            Done::Tokenizer(Err(e)) => log::warn!("token counter unavailable: {e}"),
        }
    }

    fn dialog_picked(&mut self, purpose: DialogPurpose, path: PathBuf) {
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
                        result: save_png_to(&path, &result.image)
                            .map(|()| path)
                            .map_err(|e| e.to_string()),
                    });
                }
            }
            DialogPurpose::ExportGif(id) => {
                if let Some(result) = find(id) {
                    self.background.spawn("gif", move || Done::Message {
                        title: "Exported the emergence GIF".into(),
                        result: save_emergence(&path, &result.previews, &result.image, GIF_FRAME)
                            .map(|()| path.display().to_string())
                            .map_err(|e| e.to_string()),
                    });
                }
            }
            DialogPurpose::AddModelFolder => {
                let value = path.display().to_string();
                if !self.studio.models.iter().any(|m| m.value == value) {
                    self.studio.models.push(ModelChoice {
                        value: value.clone(),
                        origin: "folder".into(),
                    });
                }
                self.studio.settings.choose_model(&value);
            }
            DialogPurpose::FavoritesDir => {
                self.studio.settings.favorites_dir = Some(path.clone());
                self.studio.favorites_dir = path;
            }
        }
    }

    fn prepare_item_textures(&self, item: &GalleryItem) {
        let (id, image) = (item.id, item.result.image.clone());
        self.background.spawn("prepare", move || Done::Prepared {
            id,
            full: rgb_to_color_image(&image),
            thumb: rgb_to_color_image(&thumbnail(&image, THUMB_SIDE)),
        });
    }

    /// Every finished image goes to the history folder at once, so a crash
    /// or kill loses at most the image being generated.
    fn keep_in_history(&self, item: &GalleryItem) {
        let Some(dir) = self.history_dir.clone() else {
            return;
        };
        let result = item.result.clone();
        self.background.spawn("history", move || {
            match save_png(&dir, &result.image, &result.params) {
                Ok(_) => Done::Quiet,
                Err(e) => Done::Message {
                    title: "Could not keep the image in the history folder".into(),
                    result: Err(e.to_string()),
                },
            }
        });
    }

    // ----- startup loads, tokens, lens -----------------------------------------------

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
            let recent = self.studio.settings.recent_models.clone();
            self.background
                .spawn("models", move || Done::Models(scan_models_on_disk(&recent)));
        } else {
            self.studio.models_scanned = true;
        }
    }

    pub(crate) fn refresh_tokens(&mut self) {
        let Some(tokenizer) = &self.tokenizer else {
            return;
        };
        let s = &self.studio.settings;
        let tokens = &mut self.studio.tokens;
        if tokens.counted.0 != s.prompt || tokens.prompt.is_none() {
            tokens.prompt = tokenizer
                .chunks(&s.prompt)
                .ok()
                .map(|t| (t.token_count, t.chunks.len()));
            tokens.counted.0 = s.prompt.clone();
        }
        if tokens.counted.1 != s.negative_prompt || tokens.negative.is_none() {
            tokens.negative = tokenizer
                .chunks(&s.negative_prompt)
                .ok()
                .map(|t| (t.token_count, t.chunks.len()));
            tokens.counted.1 = s.negative_prompt.clone();
        }
    }

    /// Keep the decay lens in step with the settings: ask the engine for a
    /// new encode when the model or size changed, follow the seed, and move
    /// the lens to img2img's start when strength, steps or sampler change.
    pub(crate) fn maintain_lens(&mut self) {
        let settings = &self.studio.settings;
        let Some(start) = &mut self.studio.start else {
            return;
        };
        if !settings.show_lens || settings.model.trim().is_empty() {
            return;
        }
        let key = LensKey {
            model: settings.model.trim().to_string(),
            size: settings.size,
        };
        let requested = start.lens_request.as_ref().map(|(_, k)| k);
        if start.lens_key.as_ref() != Some(&key) && requested != Some(&key) {
            if let Some((old, _)) = start.lens_request.take() {
                self.engine.cancel(old);
            }
            let job = self.engine.encode_start(EncodeRequest {
                model: ModelSource::parse(&key.model),
                image: StartImage::Image(start.image.clone()),
                width: key.size.map(|s| s.0),
                height: key.size.map(|s| s.1),
            });
            start.lens_request = Some((job, key));
            start.lens_error = None;
        }
        if let Some(lens) = &mut start.lens {
            lens.set_seed(settings.seed, RngKind::TorchCpu);
            let sync = (settings.strength, settings.steps, settings.sampler);
            if start.lens_synced_to != Some(sync) {
                start.lens_synced_to = Some(sync);
                start.lens_t = lens
                    .img2img_timestep(settings.sampler, settings.steps, settings.strength)
                    .unwrap_or(0.0);
            }
        }
    }

    fn cancel_lens_request(&mut self) {
        if let Some((job, _)) = self
            .studio
            .start
            .as_mut()
            .and_then(|s| s.lens_request.take())
        {
            self.engine.cancel(job);
        }
    }

    // ----- dropped files -------------------------------------------------------------

    pub(crate) fn take_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        let Some(file) = dropped.first() else {
            return;
        };
        if dropped.len() > 1 {
            self.studio.notifications.info(
                "Using the first dropped file",
                "Only one start image can be used at a time.",
            );
        }
        let path = file.path().to_path_buf();
        if path.as_os_str().is_empty() {
            // No path (e.g. dragged from a browser): decode the bytes off-thread.
            let file = file.clone();
            self.background.spawn("decode", move || Done::StartImage {
                name: "dropped image".into(),
                image: file.bytes().and_then(|b| {
                    image::load_from_memory(&b)
                        .map(|i| Arc::new(i.to_rgb8()))
                        .map_err(|e| format!("not an image we can read: {e}"))
                }),
            });
        } else {
            self.load_start_image(path);
        }
    }
}

/// Decode a start image, with a message saying what to do when it is not one.
fn decode_start_image(path: &Path) -> Result<image::RgbImage, String> {
    if path.is_dir() {
        return Err("that is a folder; drop an image file (PNG, JPEG, WebP, BMP, GIF)".into());
    }
    load_rgb(path)
        .map_err(|e| format!("{}. Use a PNG, JPEG, WebP, BMP or GIF image.", e.one_line()))
}

/// Models on this machine: `LATENT_STUDIO_MODEL`, recent folders that still
/// exist, and known hub repositories already in the Hugging Face cache.
fn scan_models_on_disk(recent: &[String]) -> Vec<ModelChoice> {
    let mut found: Vec<ModelChoice> = Vec::new();
    let mut add = |value: String, origin: &str| {
        if !found.iter().any(|m| m.value == value) {
            found.push(ModelChoice {
                value,
                origin: origin.into(),
            });
        }
    };
    if let Ok(m) = std::env::var("LATENT_STUDIO_MODEL") {
        if !m.trim().is_empty() {
            add(m.trim().to_string(), "LATENT_STUDIO_MODEL");
        }
    }
    for m in recent {
        if let ModelSource::Folder(p) = ModelSource::parse(m) {
            if p.join("model_index.json").is_file() {
                add(m.clone(), "folder");
            }
        }
    }
    let cache = hf_hub::Cache::from_env();
    for id in crate::models::hub::KNOWN_MODELS {
        if cache
            .model(id.to_string())
            .get("model_index.json")
            .is_some()
        {
            add(id.to_string(), "hub cache");
        }
    }
    found
}
