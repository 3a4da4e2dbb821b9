//! The highlight shown while a file is dragged over the window.

pub fn show(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let screen = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop_overlay"),
    ));
    let accent = ctx.global_style().visuals.selection.bg_fill;
    painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(170));
    painter.rect_stroke(
        screen.shrink(8.0),
        12.0,
        egui::Stroke::new(4.0, accent),
        egui::StrokeKind::Inside,
    );
    painter.text(
        screen.center(),
        egui::Align2::CENTER_CENTER,
        "Drop an image to start from it (img2img)",
        egui::FontId::proportional(26.0),
        egui::Color32::WHITE,
    );
}
