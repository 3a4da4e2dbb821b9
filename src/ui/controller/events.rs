//! Engine events → state: progress, results, failures, the lens latent.

use std::sync::Arc;

use crate::diffusion::decay::DecayLens;
use crate::engine::Event;
use crate::sampling::rng::RngKind;
use crate::ui::app::StudioApp;
use crate::ui::state::{GalleryItem, LiveRun};
use crate::ui::textures::preview_to_color_image;

impl StudioApp {
    pub(crate) fn drain_engine(&mut self, ctx: &egui::Context) {
        let events: Vec<Event> = self.engine.events().try_iter().collect();
        for event in events {
            self.handle_event(ctx, event);
        }
    }

    pub(super) fn handle_event(&mut self, ctx: &egui::Context, event: Event) {
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
            Event::Download { job, update } => self.download_update(job, update),
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
                // A person browsing earlier results is not pulled away.
                if self.studio.follow_live {
                    self.studio.selected = Some(self.studio.gallery.len() - 1);
                    self.studio.scrub = None;
                }
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
                    if let Some((_, key)) = start.lens_request.take_if(|(j, _)| *j == job) {
                        start.lens =
                            Some(DecayLens::new((*latent).clone(), seed, RngKind::TorchCpu));
                        start.lens_key = Some(key);
                        start.lens_error = None;
                        start.lens_synced_to = None;
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
    pub(super) fn live_run(&mut self, job: crate::engine::JobId) -> &mut LiveRun {
        if self.studio.live.as_ref().is_none_or(|l| l.job != job) {
            self.studio.live = Some(LiveRun::new(job));
        }
        self.studio.live.as_mut().expect("set above")
    }

    pub(super) fn finish_job(&mut self, job: crate::engine::JobId) {
        self.studio.queue.retain(|q| q.id != job);
        if self.studio.live.as_ref().is_some_and(|l| l.job == job) {
            self.studio.live = None;
            self.textures.live.clear();
        }
    }

    /// If `job` was a lens encode, forget it (recording `error`); returns
    /// whether it was one.
    pub(super) fn forget_lens_request(
        &mut self,
        job: crate::engine::JobId,
        error: Option<&str>,
    ) -> bool {
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

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
