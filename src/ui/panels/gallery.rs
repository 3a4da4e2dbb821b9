//! This session's results as thumbnails; click to view, star to keep.

use crate::ui::actions::Action;
use crate::ui::state::Studio;
use crate::ui::textures::TextureCache;

/// Thumbnail size in the grid, in points.
const THUMB: f32 = 84.0;

pub fn show(
    ui: &mut egui::Ui,
    studio: &Studio,
    textures: &TextureCache,
    actions: &mut Vec<Action>,
) {
    ui.strong(format!("Gallery ({})", studio.gallery.len()));
    if studio.gallery.is_empty() {
        ui.weak("Finished images collect here.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            // Newest first, like every studio's history.
            for (i, item) in studio.gallery.iter().enumerate().rev() {
                ui.vertical(|ui| {
                    ui.set_width(THUMB);
                    let selected = studio.selected == Some(i);
                    let label = format!("Image {}, seed {}", i + 1, item.result.params.seed);
                    let response = match textures.items.get(&item.id) {
                        Some(t) => ui.add(
                            egui::Button::image(
                                egui::Image::new(&t.thumb)
                                    .fit_to_exact_size(egui::vec2(THUMB, THUMB)),
                            )
                            .selected(selected),
                        ),
                        None => ui.add_sized([THUMB, THUMB], egui::Spinner::new()),
                    };
                    let response = response.on_hover_text(&label);
                    response.widget_info(|| {
                        egui::WidgetInfo::selected(egui::Role::Button, true, selected, &label)
                    });
                    if response.clicked() {
                        actions.push(Action::Select(i));
                    }
                    let star = if item.starred { "★" } else { "☆" };
                    if ui
                        .small_button(star)
                        .on_hover_text("Star: keep it in your favorites folder")
                        .clicked()
                    {
                        actions.push(Action::ToggleStar(i));
                    }
                });
            }
        });
    });
}
