//! The studio window (eframe/egui).
//!
//! - [`app`]: the eframe app; owns the engine handle and runs each frame;
//! - `controller/`: actions → engine jobs and background tasks; events → state;
//! - [`state`]: what the window shows, apart from drawing; [`settings`]: what persists;
//! - [`actions`]: what the person asked for; [`keyboard`]: shortcuts;
//! - [`background`]: dialogs, decoding, saving off the UI thread;
//! - [`library_link`]: the thread that owns the favorites/history index;
//! - [`textures`]: GPU textures made from the state's images;
//! - [`notifications`]: non-blocking messages; [`frame_stats`]: frame timing;
//! - `panels/`: the drawing code, one file per panel.

pub mod actions;
pub mod app;
pub mod background;
mod controller;
pub mod frame_stats;
pub mod keyboard;
pub mod library_link;
pub mod notifications;
mod panels;
pub mod settings;
pub mod state;
mod system_open;
pub mod textures;

pub use app::{StudioApp, StudioConfig};

/// The window's application id: names the settings folder
/// (`~/.local/share/latent-studio/app.ron` on Linux).
const APP_ID: &str = "latent-studio";

/// Open the studio window and run until it is closed.
pub fn run_studio(config: StudioConfig) -> anyhow::Result<()> {
    let viewport = egui::ViewportBuilder::default()
        .with_title("Latent Studio")
        .with_app_id(APP_ID)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([820.0, 560.0])
        .with_drag_and_drop(true);
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        APP_ID,
        options,
        Box::new(move |cc| {
            let app = StudioApp::new(cc, config)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}
