//! Driving the studio window headless (egui_kittest) against a real engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;

use latent_studio::engine::EngineOptions;
use latent_studio::ui::settings::Settings;
use latent_studio::ui::{StudioApp, StudioConfig};

/// How long any test waits for the engine before failing.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn settings_for(model: &Path, favorites: &Path) -> Settings {
    Settings {
        model: model.display().to_string(),
        steps: 6,
        seed: 42,
        seed_locked: true,
        favorites_dir: Some(favorites.to_path_buf()),
        ..Settings::default()
    }
}

pub fn studio(settings: Settings, history: Option<PathBuf>) -> Harness<'static, StudioApp> {
    studio_with_library(settings, history, None)
}

pub fn studio_with_library(
    settings: Settings,
    history: Option<PathBuf>,
    library_db: Option<PathBuf>,
) -> Harness<'static, StudioApp> {
    studio_with_config(
        settings,
        StudioConfig {
            engine: EngineOptions {
                threads: Some(1),
                ..EngineOptions::default()
            },
            history_dir: history,
            library_db,
            ..StudioConfig::default()
        },
    )
}

/// The studio window with `settings` and any start-up `config`.
pub fn studio_with_config(settings: Settings, config: StudioConfig) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 820.0))
        .build_eframe(move |cc| {
            StudioApp::with_settings(cc.egui_ctx.clone(), settings, config).expect("studio starts")
        })
}

/// Step frames (the engine runs in real time) until `done` holds.
pub fn wait_for(
    h: &mut Harness<'static, StudioApp>,
    what: &str,
    mut done: impl FnMut(&mut Harness<'static, StudioApp>) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h) {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn wait_idle(h: &mut Harness<'static, StudioApp>) {
    wait_for(h, "the engine and background tasks to finish", |h| {
        !h.state().is_working()
    });
    h.step();
}

#[derive(Debug)]
pub struct DroppedPath(pub PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

pub fn drop_file(h: &mut Harness<'static, StudioApp>, path: &Path) {
    h.input_mut().hovered_files.push(egui::HoveredFile {
        path: Some(path.to_path_buf()),
        mime: String::new(),
    });
    h.step();
    h.input_mut().hovered_files.clear();
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(path.to_path_buf())));
    h.step();
}

pub fn write_photo(path: &Path) {
    image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, 90])
    })
    .save(path)
    .unwrap();
}
