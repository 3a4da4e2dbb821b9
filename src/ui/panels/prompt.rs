//! Prompt and negative prompt with token counters, Generate and Cancel.

use crate::ui::actions::Action;
use crate::ui::state::Studio;

/// Tokens CLIP sees per chunk; longer prompts are split into chunks.
const CHUNK: usize = 75;

pub fn show(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    let tokens = studio.tokens.clone();
    let settings = &mut studio.settings;
    text_box(
        ui,
        "Prompt",
        "Describe the picture: subject, style, light. Ctrl+Enter generates.",
        "a terrier puppy in fresh snow, golden hour, 35 mm photo",
        &mut settings.prompt,
        tokens.prompt,
        4,
    );
    text_box(
        ui,
        "Negative prompt",
        "What to steer away from (used only when CFG > 1).",
        "blurry, low quality",
        &mut settings.negative_prompt,
        tokens.negative,
        2,
    );
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        let can_generate = settings.model_source().is_some();
        let generate = ui
            .add_enabled(
                can_generate,
                egui::Button::new(egui::RichText::new("Generate").strong())
                    .min_size(egui::vec2(120.0, 28.0)),
            )
            .on_hover_text("Queue the image with these settings (Ctrl+Enter)")
            .on_disabled_hover_text("Choose a model first");
        if generate.clicked() {
            actions.push(Action::Generate);
        }
        let running = studio.live.is_some();
        if ui
            .add_enabled(
                running,
                egui::Button::new("Cancel").min_size(egui::vec2(70.0, 28.0)),
            )
            .on_hover_text("Stop the running image after its current step (Esc)")
            .clicked()
        {
            actions.push(Action::CancelRunning);
        }
    });
}

fn text_box(
    ui: &mut egui::Ui,
    label: &str,
    help: &str,
    hint: &str,
    text: &mut String,
    tokens: Option<(usize, usize)>,
    rows: usize,
) {
    let caption = ui.horizontal(|ui| {
        let label = ui.label(label).on_hover_text(help);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if let Some((count, chunks)) = tokens {
                let text = token_label(count, chunks);
                let over = chunks > 1;
                let rich = egui::RichText::new(text).small();
                let rich = if over {
                    rich.color(ui.visuals().warn_fg_color)
                } else {
                    rich.weak()
                };
                ui.label(rich).on_hover_text(
                    "CLIP reads 75 tokens at a time; longer prompts are split into chunks of 75",
                );
            }
        });
        label
    });
    let edit = egui::TextEdit::multiline(text)
        .hint_text(hint)
        .desired_rows(rows)
        .desired_width(f32::INFINITY);
    ui.add(edit)
        .labelled_by(caption.inner.id)
        .on_hover_text(help);
}

/// "23/75", or "92/150 · 2 chunks" past the first chunk.
fn token_label(count: usize, chunks: usize) -> String {
    let chunks = chunks.max(1);
    if chunks == 1 {
        format!("{count}/{CHUNK}")
    } else {
        format!("{count}/{} · {chunks} chunks", chunks * CHUNK)
    }
}
