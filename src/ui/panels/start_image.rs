//! The img2img start image: thumbnail, strength, and the decay lens that
//! shows it dissolved into noise where img2img will begin.

use crate::diffusion::decay::DecayLens;
use crate::ui::actions::Action;
use crate::ui::settings::Settings;
use crate::ui::state::{StartImageState, Studio};
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
        ui.add(egui::Label::new(&start.name).truncate());
        if ui
            .small_button("Clear")
            .on_hover_text("Back to text-to-image")
            .clicked()
        {
            actions.push(Action::ClearStartImage);
        }
    });
    if let Some(info) = &start.found {
        found_parameters(ui, info, actions);
    }
    pictures(ui, start, settings, textures);
    ui.add(egui::Slider::new(&mut settings.strength, 0.0..=1.0).text("Strength"))
        .on_hover_text(
            "How much to change the image: 0 keeps it, 1 ignores it. It decides how far into the noise img2img starts.",
        );
    ui.checkbox(&mut settings.show_lens, "Decay lens")
        .on_hover_text(
            "Show the start image dissolving into noise (the forward process) at any timestep",
        );
    if settings.show_lens {
        lens_controls(ui, start, settings);
    }
    ui.separator();
}

/// The parameters stored in the dropped file, with "Use these settings".
fn found_parameters(
    ui: &mut egui::Ui,
    info: &crate::library::info::ImageInfo,
    actions: &mut Vec<Action>,
) {
    use crate::library::info::Source;
    let tool = match info.source {
        Source::LatentStudio => "Latent Studio",
        Source::A1111 => "AUTOMATIC1111",
        Source::ComfyUi => "ComfyUI",
        Source::InvokeAi => "InvokeAI",
    };
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.weak(format!("Made with {tool}"));
        if let Some(p) = &info.prompt {
            ui.add(egui::Label::new(p.as_str()).truncate())
                .on_hover_text(p.as_str());
        }
        let mut facts = Vec::new();
        if let Some(s) = info.seed {
            facts.push(format!("seed {s}"));
        }
        if let Some(s) = info.steps {
            facts.push(format!("{s} steps"));
        }
        if let Some(s) = &info.sampler {
            facts.push(s.clone());
        }
        if let Some(c) = info.cfg_scale {
            facts.push(format!("CFG {c}"));
        }
        ui.weak(facts.join(" · "));
        if ui
            .button("Use these settings")
            .on_hover_text("Copy this image's prompt, seed and parameters into the prompt panel")
            .clicked()
        {
            actions.push(Action::UseFoundSettings);
        }
    });
}

/// The start image x₀ and, beside it, the lens' x_t.
fn pictures(
    ui: &mut egui::Ui,
    start: &StartImageState,
    settings: &Settings,
    textures: &mut TextureCache,
) {
    let side = ((ui.available_width() - 8.0) / 2.0).clamp(60.0, 150.0);
    let fit = |tex: &egui::TextureHandle| {
        let [w, h] = tex.size();
        let scale = side / w.max(h).max(1) as f32;
        egui::vec2(w as f32 * scale, h as f32 * scale)
    };
    ui.horizontal_top(|ui| {
        if let Some((id, tex)) = &textures.start_thumb {
            if *id == start.id {
                ui.add(egui::Image::new(tex).fit_to_exact_size(fit(tex)))
                    .on_hover_text("x₀: the start image");
            }
        }
        let Some(lens) = start.lens.as_ref().filter(|_| settings.show_lens) else {
            return;
        };
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
            ui.add(egui::Image::new(tex).fit_to_exact_size(fit(tex)))
                .on_hover_text(
                    "xₜ = √ᾱₜ·x₀ + √(1−ᾱₜ)·ε with the seed above, through the fast preview decoder",
                );
        }
    });
}

fn lens_controls(ui: &mut egui::Ui, start: &mut StartImageState, settings: &Settings) {
    if settings.model.trim().is_empty() {
        ui.weak("Choose a model to see the lens.");
        return;
    }
    if let Some(e) = &start.lens_error {
        ui.colored_label(
            ui.visuals().error_fg_color,
            format!("Lens unavailable: {e}"),
        );
        return;
    }
    let Some(lens) = &start.lens else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.weak("Encoding the start image…");
        });
        return;
    };
    let last = (lens.train_timesteps() - 1) as f64;
    ui.add(
        egui::Slider::new(&mut start.lens_t, 0.0..=last)
            .integer()
            .text("t"),
    )
    .on_hover_text("Noise level: 0 is the clean image, the top is pure noise");
    let alpha = lens.alpha_bar(start.lens_t);
    ui.weak(format!(
        "image ×{:.2} + noise ×{:.2}",
        alpha.sqrt(),
        (1.0 - alpha).sqrt()
    ));
    img2img_marker(ui, lens, &mut start.lens_t, settings);
}

fn img2img_marker(ui: &mut egui::Ui, lens: &DecayLens, t_now: &mut f64, settings: &Settings) {
    match lens.img2img_timestep(settings.sampler, settings.steps, settings.strength) {
        Some(t) => {
            ui.horizontal(|ui| {
                ui.weak(format!("img2img starts at t = {t:.0}"));
                if (*t_now - t).abs() > 0.5 && ui.small_button("Go there").clicked() {
                    *t_now = t;
                }
            });
        }
        None => {
            ui.weak("At this strength no step runs: the image is kept.");
        }
    }
}
