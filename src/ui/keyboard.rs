//! Keyboard shortcuts. Ctrl+Enter, Esc and Ctrl+S work everywhere (they are
//! consumed before a text field sees them); arrow keys only when no text
//! field has focus, so they still move the cursor while typing.

use egui::{Key, KeyboardShortcut, Modifiers};

use crate::ui::actions::Action;
use crate::ui::state::Studio;

/// Generate.
const GENERATE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
/// Save the shown image to favorites.
const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
/// Cancel the running job.
const CANCEL: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Escape);

/// Close the window (settings are saved first).
const QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);

/// Turn this frame's key presses into actions (and timeline/gallery moves).
pub fn shortcuts(ctx: &egui::Context, studio: &Studio, actions: &mut Vec<Action>) {
    ctx.input_mut(|i| {
        if i.consume_shortcut(&GENERATE) {
            actions.push(Action::Generate);
        }
        if i.consume_shortcut(&SAVE) {
            actions.push(Action::SaveCurrent);
        }
        if studio.live.is_some() && i.consume_shortcut(&CANCEL) {
            actions.push(Action::CancelRunning);
        }
    });
    if ctx.input_mut(|i| i.consume_shortcut(&QUIT)) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    ctx.input(|i| {
        if i.key_pressed(Key::ArrowLeft) {
            actions.push(Action::StepGallery(-1));
        }
        if i.key_pressed(Key::ArrowRight) {
            actions.push(Action::StepGallery(1));
        }
        if i.key_pressed(Key::ArrowUp) {
            actions.push(Action::StepTimeline(-1));
        }
        if i.key_pressed(Key::ArrowDown) {
            actions.push(Action::StepTimeline(1));
        }
    });
}
