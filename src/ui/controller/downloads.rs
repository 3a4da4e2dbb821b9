//! Catalog downloads from the model picker: start, follow, finish.

use crate::engine::{DownloadUpdate, JobId};
use crate::hub::format_bytes;
use crate::models::catalog;
use crate::ui::app::StudioApp;
use crate::ui::state::{ModelChoice, ModelDownload};

impl StudioApp {
    /// Fetch a catalog model into the hub cache (the engine runs it beside jobs).
    pub(super) fn start_download(&mut self, id: &'static str) {
        let Some(entry) = catalog::find(id) else {
            return;
        };
        if self.studio.downloads.iter().any(|d| d.id == id) {
            return;
        }
        let request = crate::models::install::catalog_request(entry, self.engine.computes_in_f16());
        let job = self.engine.download(request);
        self.studio.downloads.push(ModelDownload {
            id,
            job,
            label: format!("starting · {}", format_bytes(entry.bytes_for(false))),
            fraction: 0.0,
        });
    }

    /// A download moved on: update its row, or finish it.
    pub(super) fn download_update(&mut self, job: JobId, update: DownloadUpdate) {
        let Some(i) = self.studio.downloads.iter().position(|d| d.job == job) else {
            return;
        };
        let entry = catalog::find(self.studio.downloads[i].id);
        let name = entry.map_or("the model", |e| e.name);
        match update {
            DownloadUpdate::Progress(p) => {
                let row = &mut self.studio.downloads[i];
                row.label = p.describe();
                row.fraction = if p.total == 0 {
                    0.0
                } else {
                    p.done as f32 / p.total as f32
                };
                return;
            }
            DownloadUpdate::Finished { fetched_bytes, .. } => {
                let mut detail = if fetched_bytes == 0 {
                    "It was already in the Hugging Face cache.".to_string()
                } else {
                    format!("Downloaded {}.", format_bytes(fetched_bytes))
                };
                if entry.is_some_and(|e| !e.is_pipeline()) {
                    // Extras are picked up when a model is (re)loaded.
                    detail.push_str(" It is used from the next model load on.");
                }
                self.studio
                    .notifications
                    .info(format!("{name} is ready"), detail);
                if let Some(entry) = entry {
                    self.studio
                        .partial_downloads
                        .retain(|(id, _)| *id != entry.id);
                }
                if let Some(entry) = entry.filter(|e| !e.is_pipeline()) {
                    self.studio.installed_extras.push(entry.id);
                }
                if let Some(entry) = entry.filter(|e| e.is_pipeline()) {
                    if !self.studio.models.iter().any(|m| m.value == entry.repo) {
                        self.studio
                            .models
                            .push(ModelChoice::new(entry.repo.to_string(), "hub cache"));
                    }
                    // A model just fetched replaces the built-in stand-in.
                    let settings = &mut self.studio.settings;
                    if settings.model.is_empty() || settings.is_builtin_model() {
                        settings.choose_model(entry.repo);
                    }
                }
            }
            DownloadUpdate::Failed(error) => {
                self.scan_models();
                self.studio
                    .notifications
                    .error(format!("Could not download {name}"), error);
            }
            DownloadUpdate::Cancelled => {
                // Learn how much is kept, for the Resume button.
                self.scan_models();
                self.studio.notifications.info(
                    format!("Stopped downloading {name}"),
                    "What arrived is kept; Download again to resume.",
                );
            }
        }
        self.studio.downloads.remove(i);
    }
}
