//! The big picture: the live preview while a job runs, a timeline frame
//! while scrubbing, else the selected result with its actions; progress on
//! top; what to do when there is nothing to show.

use crate::ui::actions::Action;
use crate::ui::state::{Studio, TimelineView};
use crate::ui::textures::TextureCache;

pub fn show(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    textures: &mut TextureCache,
    actions: &mut Vec<Action>,
) {
    progress(ui, studio);
    if studio.live.is_some() && !studio.follow_live {
        let live = ui
            .button("Show the running image")
            .on_hover_text("Back to the live preview of the job in progress");
        if live.clicked() {
            actions.push(Action::FollowLive);
        }
    }
    if let (Some(i), TimelineView::Item(_)) = (studio.selected, studio.timeline()) {
        result_bar(ui, studio, i, actions);
    }
    let view = studio.timeline();
    let frames = textures.timeline_frames(ui.ctx(), &view).to_vec();
    let scrubbed = studio
        .hover_frame
        .or(studio.scrub)
        .and_then(|i| frames.get(i));
    let texture = match (&view, scrubbed) {
        (_, Some(frame)) => Some(frame.clone()),
        (TimelineView::Live(_), None) => textures.live.handle().cloned(),
        (TimelineView::Item(item), None) => textures.items.get(&item.id).map(|t| t.full.clone()),
        (TimelineView::Empty, None) => None,
    };
    match texture {
        Some(tex) => picture(ui, &tex, output_size(studio)),
        None if matches!(view, TimelineView::Live(_)) || studio.live.is_some() => {
            ui.centered_and_justified(|ui| ui.spinner());
        }
        None => empty_state(ui, studio),
    }
}

/// The pixel size of what is shown (previews are stretched to it).
fn output_size(studio: &Studio) -> Option<egui::Vec2> {
    let item = match studio.timeline() {
        TimelineView::Item(item) => Some(item),
        _ => None,
    };
    item.map(|i| {
        egui::vec2(
            i.result.image.width() as f32,
            i.result.image.height() as f32,
        )
    })
    .or_else(|| {
        studio
            .settings
            .size
            .map(|(w, h)| egui::vec2(w as f32, h as f32))
    })
}

fn picture(ui: &mut egui::Ui, tex: &egui::TextureHandle, size: Option<egui::Vec2>) {
    let natural = size.unwrap_or_else(|| tex.size_vec2());
    let avail = ui.available_size();
    let scale = (avail.x / natural.x).min(avail.y / natural.y).max(0.01);
    let shown = natural * scale;
    ui.centered_and_justified(|ui| {
        ui.add(egui::Image::new(tex).fit_to_exact_size(shown))
            .on_hover_text("Left/Right: previous/next image · Up/Down: step through the timeline");
    });
}

fn progress(ui: &mut egui::Ui, studio: &Studio) {
    let Some(live) = &studio.live else {
        return;
    };
    let bar = if let Some((what, p)) = &live.loading {
        egui::ProgressBar::new(*p).text(format!("Loading {what}… {:.0}%", p * 100.0))
    } else if live.total == 0 {
        egui::ProgressBar::new(0.0).text("Preparing…").animate(true)
    } else {
        let mut text = format!("Step {}/{}", live.step, live.total);
        if let Some(sps) = live.seconds_per_step() {
            text += &format!(" · {sps:.2} s/step");
        }
        if let Some(eta) = live.eta() {
            text += &format!(" · ETA {:.0} s", eta.as_secs_f64().ceil());
        }
        egui::ProgressBar::new(live.fraction()).text(text)
    };
    ui.add(bar);
}

fn result_bar(ui: &mut egui::Ui, studio: &Studio, i: usize, actions: &mut Vec<Action>) {
    let Some(item) = studio.gallery.get(i) else {
        return;
    };
    let p = &item.result.params;
    ui.horizontal_wrapped(|ui| {
        let star = if item.starred {
            "★ Starred"
        } else {
            "☆ Star"
        };
        if ui
            .button(star)
            .on_hover_text("Star to keep it: saved as PNG in your favorites folder (Ctrl+S)")
            .clicked()
        {
            actions.push(Action::ToggleStar(i));
        }
        if ui.button("Save as…").clicked() {
            actions.push(Action::SaveAs(i));
        }
        if ui
            .button("Use settings")
            .on_hover_text("Copy this image's prompt, seed and parameters into the prompt panel")
            .clicked()
        {
            actions.push(Action::UseSettings(i));
        }
        if ui
            .button("Vary")
            .on_hover_text("A variation: img2img from this image at low strength with a new seed")
            .clicked()
        {
            actions.push(Action::Vary(i));
        }
        if ui
            .button("Use as start image")
            .on_hover_text("Start img2img from this image with your own strength and prompt")
            .clicked()
        {
            actions.push(Action::UseAsStart(i));
        }
        if ui
            .add_enabled(
                !item.result.previews.is_empty(),
                egui::Button::new("Export GIF…"),
            )
            .on_hover_text("The image emerging from noise, step by step, as an animated GIF")
            .clicked()
        {
            actions.push(Action::ExportGif(i));
        }
    });
    ui.weak(format!(
        "seed {} · {} steps · {} · CFG {} · {}×{} · {:.1} s · {}",
        p.seed,
        p.steps,
        p.sampler.a1111_name(),
        p.cfg_scale,
        item.result.image.width(),
        item.result.image.height(),
        item.result.duration.as_secs_f64(),
        item.result.model.display_name()
    ));
}

fn empty_state(ui: &mut egui::Ui, studio: &Studio) {
    ui.centered_and_justified(|ui| {
        let text = if studio.settings.model.trim().is_empty() {
            if studio.models_scanned {
                "No model yet.\n\nDownload one on the left (SD-Turbo is the quickest start),\n\
                 drop a .safetensors checkpoint on the window, or choose a diffusers folder\n\
                 or checkpoint file with \"Folder…\" / \"File…\"."
            } else {
                "Looking for models…"
            }
        } else {
            "Type a prompt and press Generate (Ctrl+Enter).\nEvery step appears here as the picture emerges from noise.\n\nDrop a photo on the window to start from it."
        };
        ui.label(egui::RichText::new(text).size(16.0).weak());
    });
}
