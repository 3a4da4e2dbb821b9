//! The img2img start image: thumbnail, strength, and the decay lens that
//! shows it dissolved into noise where img2img will begin.

use crate::ui::actions::Action;
use crate::ui::state::Studio;
use crate::ui::textures::{preview_to_color_image, TextureCache};

pub fn show(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &mut TextureCache,
    actions: &mut Vec<Action>,
) {
    ui.strong("Start image (img2img)");
    let Some(start) = &mut studio.start else {
        ui.horizontal_wrapped(|ui| {
            ui.weak("Drop an image anywhere on the window, or");
            if ui.button("Open image…").clicked() {
                actions.push(Action::OpenStartImage);
            }
        });
        ui.separator();
        return;
    };
    let settings = &mut studio.settings;
    ui.horizontal(|ui| {
        ui.label(&start.name);
        if ui
            .small_button("Clear")
            .on_hover_text("Back to text-to-image")
            .clicked()
        {
            actions.push(Action::ClearStartImage);
        }
    });
    if let Some((id, tex)) = &textures.start_thumb {
        if *id == start.id {
            ui.add(
                egui::Image::new(tex)
                    .max_height(140.0)
                    .max_width(ui.available_width()),
            );
        }
    }
    ui.add(egui::Slider::new(&mut settings.strength, 0.0..=1.0).text("Strength"))
        .on_hover_text(
            "How much to change the image: 0 keeps it, 1 ignores it. It decides how far into the noise img2img starts.",
        );
    ui.checkbox(&mut settings.show_lens, "Decay lens")
        .on_hover_text(
            "Show the start image dissolving into noise (the forward process) at any timestep",
        );
    if settings.show_lens {
        if settings.model.trim().is_empty() {
            ui.weak("Choose a model to see the lens.");
        } else if let Some(e) = &start.lens_error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Lens unavailable: {e}"),
            );
        } else if let Some(lens) = &start.lens {
            let key = (start.id, start.lens_t.to_bits(), settings.seed);
            if textures.lens_shown != Some(key) {
                if let Ok(frame) = lens.frame(start.lens_t) {
                    textures
                        .lens
                        .update(ui.ctx(), preview_to_color_image(&frame));
                }
                textures.lens_shown = Some(key);
            }
            if let Some(tex) = textures.lens.handle() {
                let side = ui.available_width().min(220.0);
                let [w, h] = tex.size();
                let size = egui::vec2(side, side * h as f32 / w.max(1) as f32);
                ui.add(egui::Image::new(tex).fit_to_exact_size(size))
                    .on_hover_text(
                        "√ᾱₜ·x₀ + √(1−ᾱₜ)·ε with the seed above, through the fast preview decoder",
                    );
            }
            let last = (lens.train_timesteps() - 1) as f64;
            ui.add(
                egui::Slider::new(&mut start.lens_t, 0.0..=last)
                    .integer()
                    .text("t"),
            )
            .on_hover_text("Noise level: 0 is the clean image, the top is pure noise");
            let alpha = lens.alpha_bar(start.lens_t);
            ui.weak(format!(
                "signal {:.0}% · noise {:.0}%",
                alpha.sqrt() * 100.0,
                (1.0 - alpha).sqrt() * 100.0
            ));
            match lens.img2img_timestep(settings.sampler, settings.steps, settings.strength) {
                Some(t) => {
                    ui.horizontal(|ui| {
                        ui.weak(format!("img2img starts at t = {t:.0}"));
                        if (start.lens_t - t).abs() > 0.5 && ui.small_button("Go there").clicked() {
                            start.lens_t = t;
                        }
                    });
                }
                None => {
                    ui.weak("At this strength no step runs: the image is kept.");
                }
            }
        } else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.weak("Encoding the start image…");
            });
        }
    }
    ui.separator();
}
