//! Notifications in the bottom-right corner; errors stay until dismissed
//! and unfold to their full message.

use crate::ui::notifications::Level;
use crate::ui::state::Studio;

pub fn show(ctx: &egui::Context, studio: &mut Studio) {
    if studio.notifications.items().is_empty() {
        return;
    }
    let mut dismiss = None;
    egui::Area::new(egui::Id::unique("toasts"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -120.0))
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            ui.set_max_width(360.0);
            for (i, n) in studio.notifications.items_mut().iter_mut().enumerate() {
                let color = match n.level {
                    Level::Error => ui.visuals().error_fg_color,
                    Level::Info => ui.visuals().text_color(),
                };
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.colored_label(color, &n.title);
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Min), |ui| {
                            if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                            if !n.detail.is_empty() {
                                let label = if n.expanded { "Less" } else { "Details" };
                                if ui.small_button(label).clicked() {
                                    n.expanded = !n.expanded;
                                }
                            }
                        });
                    });
                    if n.expanded {
                        ui.add(egui::Label::new(&n.detail).wrap());
                    }
                });
            }
        });
    if let Some(i) = dismiss {
        studio.notifications.dismiss(i);
    }
}
