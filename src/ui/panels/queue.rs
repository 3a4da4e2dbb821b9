//! The jobs waiting and running, each removable.

use crate::ui::actions::Action;
use crate::ui::state::Studio;

pub fn show(ui: &mut egui::Ui, studio: &Studio, actions: &mut Vec<Action>) {
    if studio.queue.is_empty() {
        return;
    }
    ui.strong(format!("Queue ({})", studio.queue.len()));
    for job in &studio.queue {
        ui.horizontal(|ui| {
            if ui
                .small_button("✖")
                .on_hover_text("Remove from the queue (stops it if it is running)")
                .clicked()
            {
                actions.push(Action::CancelJob(job.id));
            }
            let state = match &studio.live {
                Some(l) if l.job == job.id && l.total > 0 => format!("{}/{}", l.step, l.total),
                Some(l) if l.job == job.id => "loading".into(),
                _ => "waiting".into(),
            };
            ui.weak(state);
            let mut prompt: String = job.params.prompt.chars().take(28).collect();
            if job.params.prompt.chars().count() > 28 {
                prompt.push('…');
            }
            let kind = if job.img2img { " · img2img" } else { "" };
            // Truncated, so a long prompt never widens the panel.
            ui.add(
                egui::Label::new(format!("{prompt} · seed {}{kind}", job.params.seed)).truncate(),
            );
        });
    }
}
