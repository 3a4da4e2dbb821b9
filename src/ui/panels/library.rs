//! The library browser: every saved image (favorites and history) as a
//! lazily loaded thumbnail grid with prompt search, a favorites filter, and
//! what can be done with one image.

use crate::ui::actions::Action;
use crate::ui::state::{Studio, View};
use crate::ui::textures::TextureCache;

/// Grid cell size in points.
const CELL: f32 = 132.0;

pub fn show(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &TextureCache,
    actions: &mut Vec<Action>,
) {
    let lib = &mut studio.library;
    ui.horizontal(|ui| {
        if ui.button("Back to studio").clicked() {
            actions.push(Action::ShowView(View::Studio));
        }
        let label = ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut lib.query)
                .hint_text("words in the prompt")
                .desired_width(260.0),
        )
        .labelled_by(label.id);
        ui.checkbox(&mut lib.favorites_only, "★ Favorites only");
        ui.weak(format!("{} images", lib.entries.len()));
    });
    if let Some(e) = &lib.unavailable {
        ui.colored_label(ui.visuals().error_fg_color, e);
        return;
    }
    details(ui, studio, actions);
    ui.separator();
    grid(ui, studio, textures, actions);
}

fn details(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    let lib = &mut studio.library;
    let Some(i) = lib.selected else {
        ui.weak("Click an image to see what you can do with it.");
        return;
    };
    let Some(entry) = lib.entries.get(i) else {
        return;
    };
    ui.add(egui::Label::new(entry.prompt.as_str()).truncate())
        .on_hover_text(entry.prompt.as_str());
    ui.weak(entry.path.display().to_string());
    ui.horizontal_wrapped(|ui| {
        if ui.button("Use these settings").clicked() {
            actions.push(Action::LibraryUseSettings(i));
        }
        if ui.button("Use as start image").clicked() {
            actions.push(Action::LibraryUseAsStart(i));
        }
        if ui
            .button("Open")
            .on_hover_text("Open in your image viewer")
            .clicked()
        {
            actions.push(Action::LibraryOpen(i));
        }
        if ui.button("Show in folder").clicked() {
            actions.push(Action::LibraryReveal(i));
        }
        if entry.favorite
            && ui
                .button("☆ Unstar")
                .on_hover_text("Move it back to the history folder")
                .clicked()
        {
            actions.push(Action::LibraryUnstar(i));
        }
        if lib.confirm_delete == Some(entry.id) {
            ui.colored_label(ui.visuals().warn_fg_color, "Delete this file for good?");
            if ui.button("Delete").clicked() {
                actions.push(Action::LibraryDelete(i));
            }
            if ui.button("Keep").clicked() {
                lib.confirm_delete = None;
            }
        } else if ui.button("Delete…").clicked() {
            lib.confirm_delete = Some(entry.id);
        }
    });
}

fn grid(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &TextureCache,
    actions: &mut Vec<Action>,
) {
    let lib = &mut studio.library;
    if lib.entries.is_empty() {
        ui.weak(if lib.query.trim().is_empty() {
            "Nothing saved yet: every finished image lands here, starred ones in favorites."
        } else {
            "No saved image has that in its prompt."
        });
        return;
    }
    let columns = ((ui.available_width() / (CELL + 8.0)).floor() as usize).max(1);
    let rows = lib.entries.len().div_ceil(columns);
    // Only the visible rows are laid out, and only their thumbnails loaded:
    // smooth with thousands of images.
    egui::ScrollArea::vertical().auto_shrink(false).show_rows(
        ui,
        CELL + 8.0,
        rows,
        |ui, visible| {
            for row in visible {
                ui.horizontal(|ui| {
                    for i in row * columns..((row + 1) * columns).min(lib.entries.len()) {
                        let entry = &lib.entries[i];
                        let label =
                            format!("{} {}", if entry.favorite { "★" } else { "" }, entry.prompt);
                        let selected = lib.selected == Some(i);
                        let response = match textures.library.get(&entry.id) {
                            Some(Some(tex)) => ui.add(
                                egui::Button::image(
                                    egui::Image::new(tex).fit_to_exact_size(egui::vec2(CELL, CELL)),
                                )
                                .selected(selected),
                            ),
                            Some(None) => ui.add_sized([CELL, CELL], egui::Spinner::new()),
                            None => {
                                actions.push(Action::LibraryThumbnail(entry.id));
                                ui.add_sized([CELL, CELL], egui::Spinner::new())
                            }
                        };
                        let response = response.on_hover_text(label.trim());
                        response.widget_info(|| {
                            egui::WidgetInfo::selected(
                                egui::Role::Button,
                                true,
                                selected,
                                label.trim(),
                            )
                        });
                        if response.clicked() {
                            lib.selected = Some(i);
                            lib.confirm_delete = None;
                        }
                    }
                });
            }
        },
    );
}
