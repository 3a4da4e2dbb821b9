//! Drawing. Each panel is a function of the state that pushes actions; no
//! panel talks to the engine or the disk (anything shown that needs the
//! disk, like a model's name, is worked out when the state is built). Panels
//! may edit settings in place, the immediate-mode way; every side effect is
//! an [`Action`](crate::ui::actions::Action).
//!
//! Layout: top bar · left: prompt, parameters, start image, queue · right:
//! gallery · bottom: timeline · centre: the canvas · toasts and the drop
//! highlight float above.

mod canvas;
mod drop_overlay;
mod gallery;
mod library;
mod params;
mod prompt;
mod queue;
mod start_image;
mod timeline;
mod toasts;
mod top_bar;

use crate::ui::actions::Action;
use crate::ui::state::{Studio, View};
use crate::ui::textures::TextureCache;

/// Draw the whole window.
pub fn show_all(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &mut TextureCache,
    actions: &mut Vec<Action>,
) {
    egui::Panel::top("top_bar").show(ui, |ui| top_bar::show(ui, studio, actions));
    if studio.view == View::Library {
        egui::CentralPanel::default().show(ui, |ui| library::show(ui, studio, textures, actions));
        toasts::show(ui.ctx(), studio);
        drop_overlay::show(ui.ctx());
        return;
    }
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(330.0)
        .min_size(260.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                prompt::show(ui, studio, actions);
                ui.separator();
                params::show(ui, studio, actions);
                ui.separator();
                start_image::show(ui, studio, textures, actions);
                queue::show(ui, studio, actions);
            });
        });
    egui::Panel::right("gallery")
        .resizable(true)
        .default_size(200.0)
        .min_size(120.0)
        .show(ui, |ui| gallery::show(ui, studio, textures, actions));
    egui::Panel::bottom("timeline")
        .resizable(false)
        .show(ui, |ui| timeline::show(ui, studio, textures, actions));
    egui::CentralPanel::default().show(ui, |ui| canvas::show(ui, studio, textures, actions));
    toasts::show(ui.ctx(), studio);
    drop_overlay::show(ui.ctx());
}
