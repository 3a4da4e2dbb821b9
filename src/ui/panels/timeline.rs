//! The filmstrip: one frame per step. Hover a frame to see it large, click
//! to pin it, click "Final" to see the result again.

use crate::ui::actions::Action;
use crate::ui::state::Studio;
use crate::ui::textures::TextureCache;

/// Frame height in the strip, in points.
const FRAME: f32 = 56.0;

pub fn show(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &mut TextureCache,
    actions: &mut Vec<Action>,
) {
    let view = studio.timeline();
    let frames = textures.timeline_frames(ui.ctx(), &view).to_vec();
    ui.horizontal(|ui| {
        ui.strong("Timeline");
        match studio.hover_frame.or(studio.scrub) {
            Some(i) => ui.label(format!("step {}/{}", i + 1, frames.len())),
            None if frames.is_empty() => ui.weak("each step's prediction appears here"),
            None => ui.label(format!("{} steps", frames.len())),
        };
        if studio.scrub.is_some() && ui.small_button("Final").clicked() {
            actions.push(Action::Scrub(None));
        }
        if let (Some(i), None) = (studio.selected, &studio.live) {
            let has_frames = studio
                .gallery
                .get(i)
                .is_some_and(|g| !g.result.previews.is_empty());
            if ui
                .add_enabled(has_frames, egui::Button::new("Export GIF…").small())
                .on_hover_text("Save the emergence as an animated GIF")
                .clicked()
            {
                actions.push(Action::ExportGif(i));
            }
        }
    });
    let mut hovered = None;
    egui::ScrollArea::horizontal()
        .id_salt("timeline_strip")
        .min_scrolled_height(FRAME + 8.0)
        .stick_to_right(true)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.set_min_height(FRAME + 4.0);
                for (i, tex) in frames.iter().enumerate() {
                    let [w, h] = tex.size();
                    let size = egui::vec2(FRAME * w as f32 / h.max(1) as f32, FRAME);
                    let selected = studio.scrub == Some(i);
                    let response = ui
                        .add(
                            egui::Button::image(egui::Image::new(tex).fit_to_exact_size(size))
                                .selected(selected),
                        )
                        .on_hover_text(format!("Step {}", i + 1));
                    if response.hovered() {
                        hovered = Some(i);
                    }
                    if response.clicked() {
                        actions.push(Action::Scrub(if selected { None } else { Some(i) }));
                    }
                }
            });
        });
    // Hovering previews a frame without pinning it.
    studio.hover_frame = hovered;
}
