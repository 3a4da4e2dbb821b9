//! The library browser: searches, thumbnails, and what can be done with a
//! saved image; the index itself lives on the library thread.

use crate::library::info::ImageInfo;
use crate::ui::actions::Action;
use crate::ui::app::StudioApp;
use crate::ui::library_link::{LibraryEvent, LibraryRequest};
use crate::ui::state::View;

impl StudioApp {
    pub(crate) fn drain_library(&mut self, ctx: &egui::Context) {
        let Some(link) = &self.library else { return };
        for event in link.drain() {
            match event {
                LibraryEvent::Synced(report) => {
                    if report.evicted > 0 {
                        self.studio.notifications.info(
                            "History trimmed",
                            format!("{} oldest history images were removed to stay within the size cap; favorites are never removed.", report.evicted),
                        );
                    }
                    self.studio.library.searched = None;
                }
                LibraryEvent::Results {
                    generation,
                    entries,
                } => {
                    if generation == self.studio.library.generation {
                        self.studio.library.entries = entries;
                        self.studio.library.selected = None;
                    }
                }
                LibraryEvent::Thumbnail { id, image } => {
                    let tex = ctx.load_texture(
                        format!("library-{id}"),
                        image,
                        egui::TextureOptions::LINEAR,
                    );
                    self.textures.library.insert(id, Some(tex));
                }
                LibraryEvent::Changed => self.studio.library.searched = None,
                LibraryEvent::Error(e) => {
                    if self.studio.library.unavailable.is_none()
                        && e.starts_with("the library is unavailable")
                    {
                        self.studio.library.unavailable = Some(e.clone());
                    }
                    self.studio.notifications.error("Library", e);
                }
            }
        }
        self.refresh_library_search();
    }

    /// Ask for results when the library is shown and its search changed.
    fn refresh_library_search(&mut self) {
        let lib = &mut self.studio.library;
        let wanted = (lib.query.trim().to_string(), lib.favorites_only);
        if self.studio.view != View::Library || lib.searched.as_ref() == Some(&wanted) {
            return;
        }
        let Some(link) = &self.library else { return };
        lib.generation += 1;
        link.send(LibraryRequest::Search {
            query: wanted.0.clone(),
            favorites_only: wanted.1,
            generation: lib.generation,
        });
        lib.searched = Some(wanted);
    }

    /// Tell the index about a file just saved.
    pub(crate) fn index_saved(&self, path: std::path::PathBuf, favorite: bool) {
        if let Some(link) = &self.library {
            link.send(LibraryRequest::Indexed { path, favorite });
        }
    }

    /// Carry out a library action (others are ignored).
    pub(crate) fn perform_library(&mut self, action: Action) {
        let entry = |i: usize| self.studio.library.entries.get(i).cloned();
        match action {
            Action::ShowView(view) => {
                self.studio.view = view;
                self.studio.library.searched = None;
                // Pick up files added or removed by hand since the last look.
                if let (View::Library, Some(link)) = (view, &self.library) {
                    link.send(LibraryRequest::Sync);
                }
            }
            Action::LibraryThumbnail(id) => {
                if let Some(link) = &self.library {
                    self.textures.library.insert(id, None);
                    link.send(LibraryRequest::Thumbnail(id));
                }
            }
            Action::LibraryUseSettings(i) => {
                let info = entry(i)
                    .and_then(|e| e.params_json)
                    .and_then(|j| serde_json::from_str::<ImageInfo>(&j).ok());
                match info {
                    Some(info) => {
                        self.studio.settings.use_params(&info.to_params());
                        self.studio.view = View::Studio;
                    }
                    None => self.studio.notifications.info(
                        "No settings recorded",
                        "This image carries no generation parameters.",
                    ),
                }
            }
            Action::LibraryUseAsStart(i) => {
                if let Some(e) = entry(i) {
                    self.load_start_image(e.path);
                    self.studio.view = View::Studio;
                }
            }
            Action::LibraryOpen(i) => {
                if let Some(e) = entry(i) {
                    crate::ui::system_open::open(&self.background, e.path);
                }
            }
            Action::LibraryReveal(i) => {
                if let Some(e) = entry(i) {
                    crate::ui::system_open::reveal(&self.background, e.path);
                }
            }
            Action::LibraryUnstar(i) => {
                if let (Some(e), Some(link)) = (entry(i), &self.library) {
                    link.send(LibraryRequest::Unstar(e.id));
                }
            }
            Action::LibraryDelete(i) => {
                if let (Some(e), Some(link)) = (entry(i), &self.library) {
                    link.send(LibraryRequest::Delete(e.id));
                    self.textures.library.remove(&e.id);
                    self.studio.library.confirm_delete = None;
                }
            }
            _ => {}
        }
    }
}
