//! The top bar: name, start-image and settings menus, engine status.

use crate::ui::actions::Action;
use crate::ui::state::{Studio, View};

pub fn show(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.strong("Latent Studio");
        ui.separator();
        if ui
            .button("Open image…")
            .on_hover_text("Choose a start image for img2img (or drop one on the window)")
            .clicked()
        {
            actions.push(Action::OpenStartImage);
        }
        let library = studio.view == View::Library;
        if ui
            .selectable_label(library, "Library")
            .on_hover_text("Every saved image: favorites and history, with search")
            .clicked()
        {
            actions.push(Action::ShowView(if library {
                View::Studio
            } else {
                View::Library
            }));
        }
        ui.menu_button("Settings", |ui| {
            ui.label("Starred images are saved to:");
            ui.monospace(studio.favorites_dir.display().to_string());
            if ui.button("Change folder…").clicked() {
                actions.push(Action::ChooseFavoritesDir);
                ui.close();
            }
            ui.separator();
            ui.label("Models folder (checkpoints and diffusers folders in it are listed):");
            ui.monospace(studio.settings.models_dir().display().to_string());
            ui.horizontal(|ui| {
                if ui.button("Change models folder…").clicked() {
                    actions.push(Action::ChooseModelsDir);
                    ui.close();
                }
                if ui.button("Look for models again").clicked() {
                    actions.push(Action::RescanModels);
                    ui.close();
                }
            });
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(status_line(studio));
        });
    });
}

fn status_line(studio: &Studio) -> String {
    let waiting = studio
        .queue
        .len()
        .saturating_sub(usize::from(studio.live.is_some()));
    let queued = if waiting > 0 {
        format!(" · {waiting} queued")
    } else {
        String::new()
    };
    match &studio.live {
        Some(live) if live.loading.is_some() => format!("Loading model{queued}"),
        Some(live) if live.total > 0 => {
            format!("Generating {}/{}{queued}", live.step, live.total)
        }
        _ if studio.busy() => format!("Starting{queued}"),
        _ if !studio.downloads.is_empty() => {
            let n = studio.downloads.len();
            format!("Downloading {n} model{}", if n == 1 { "" } else { "s" })
        }
        _ => "Idle".into(),
    }
}
