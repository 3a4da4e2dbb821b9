//! The eframe application: owns the engine handle, the window state and the
//! texture cache, and wires them together once per frame.
//!
//! Per frame: [`eframe::App::logic`] drains engine events and background
//! results; [`eframe::App::ui`] takes dropped files and shortcuts and lays
//! out the panels, which return actions; the controller (`ui/controller/`)
//! carries those out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineOptions};
use crate::models::tokenizer::ClipTokenizer;
use crate::ui::actions::Action;
use crate::ui::background::Background;
use crate::ui::frame_stats::FrameStats;
use crate::ui::panels;
use crate::ui::settings::Settings;
use crate::ui::state::Studio;
use crate::ui::textures::TextureCache;

/// How often eframe writes the settings to disk: a kill loses at most this.
const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(5);

/// How the studio starts; everything has a sensible default.
#[derive(Clone, Default)]
pub struct StudioConfig {
    /// Engine options (the repaint callback is added here).
    pub engine: EngineOptions,
    /// Settings to start with instead of the saved ones.
    pub settings: Option<Settings>,
    /// Where every finished image is kept (`None`: not kept).
    pub history_dir: Option<PathBuf>,
    /// Look for installed models at start (hub cache, `LATENT_STUDIO_MODEL`).
    pub scan_models: bool,
    /// Fill in this prompt and start generating at once (demos, screenshots).
    pub demo_prompt: Option<String>,
    /// Load this start image at launch.
    pub start_image: Option<PathBuf>,
    /// Collect frame times and print a summary on exit.
    pub frame_stats: bool,
    /// The favorites/history index database (`None`: no library browser).
    pub library_db: Option<PathBuf>,
}

/// The studio window.
pub struct StudioApp {
    /// Everything the window shows.
    pub studio: Studio,
    /// Textures made from `studio`'s images.
    pub textures: TextureCache,
    pub(crate) engine: Engine,
    pub(crate) background: Background,
    pub(crate) tokenizer: Option<Arc<ClipTokenizer>>,
    pub(crate) history_dir: Option<PathBuf>,
    pub(crate) library: Option<crate::ui::library_link::LibraryLink>,
    pub(crate) next_id: u64,
    /// Set when a step preview arrived and the live texture must be refreshed.
    pub(crate) live_dirty: bool,
    pub(crate) pending_demo: Option<String>,
    /// Frame timings, when asked for.
    pub frame_stats: Option<FrameStats>,
    actions: Vec<Action>,
}

impl StudioApp {
    /// Build the app inside eframe's creation callback.
    pub fn new(cc: &eframe::CreationContext<'_>, config: StudioConfig) -> anyhow::Result<Self> {
        let saved = cc
            .storage
            .and_then(|s| eframe::get_value::<Settings>(s, eframe::APP_KEY));
        let settings = config.settings.clone().or(saved).unwrap_or_default();
        Self::with_settings(cc.egui_ctx.clone(), settings, config)
    }

    /// Build the app with explicit settings (tests use this).
    pub fn with_settings(
        ctx: egui::Context,
        settings: Settings,
        config: StudioConfig,
    ) -> anyhow::Result<Self> {
        let repaint = ctx.clone();
        let engine = Engine::spawn(EngineOptions {
            notify: Some(Arc::new(move || repaint.request_repaint())),
            ..config.engine.clone()
        })?;
        let favorites = settings
            .favorites_dir
            .clone()
            .unwrap_or_else(crate::storage::folders::default_favorites_dir);
        let mut app = Self {
            studio: Studio::new(settings, favorites),
            textures: TextureCache::default(),
            engine,
            background: Background::new(ctx.clone()),
            tokenizer: None,
            history_dir: config.history_dir.clone(),
            library: None,
            next_id: 1,
            live_dirty: false,
            pending_demo: config.demo_prompt.clone(),
            frame_stats: config.frame_stats.then(FrameStats::default),
            actions: Vec::new(),
        };
        app.start_background_loads(config.scan_models);
        if let (Some(db), Some(history)) = (&config.library_db, &config.history_dir) {
            let link = crate::ui::library_link::LibraryLink::spawn(
                db.clone(),
                app.studio.favorites_dir.clone(),
                history.clone(),
                ctx.clone(),
            );
            link.send(crate::ui::library_link::LibraryRequest::Sync);
            app.library = Some(link);
        } else {
            app.studio.library.unavailable = Some("no library folder is configured".into());
        }
        if let Some(path) = config.start_image {
            app.perform(&ctx, Action::LoadStartImage(path));
        }
        Ok(app)
    }

    /// Whether engine jobs or background tasks are still under way (tests
    /// step frames until this is false).
    pub fn is_working(&self) -> bool {
        self.studio.busy() || self.background.running() > 0
    }

    /// Texture allocations of the live preview so far.
    pub fn live_texture_allocations(&self) -> usize {
        self.textures.live.allocations
    }

    fn run_actions(&mut self, ctx: &egui::Context) {
        for action in std::mem::take(&mut self.actions) {
            self.perform(ctx, action);
        }
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        // Runs before every `ui()`, and also while the window is hidden, so
        // results keep flowing in; input is read in `ui()` only, because a
        // hidden window's `logic` sees the last shown frame's events again.
        self.drain_engine(ctx);
        self.drain_background(ctx);
        self.drain_library(ctx);
        if let Some(prompt) = self.pending_demo.take() {
            self.studio.settings.prompt = prompt;
            self.actions.push(Action::Generate);
        }
        self.run_actions(ctx);
        self.refresh_tokens();
        self.maintain_lens();
        if let Some(wait) = self.studio.notifications.expire(Instant::now()) {
            ctx.request_repaint_after(wait);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        self.take_dropped_files(&ctx);
        crate::ui::keyboard::shortcuts(&ctx, &self.studio, &mut self.actions);
        self.run_actions(&ctx);
        if self.live_dirty {
            self.upload_live_preview(&ctx);
        }
        panels::show_all(ui, &mut self.studio, &mut self.textures, &mut self.actions);
        self.run_actions(&ctx);
        if let Some(stats) = &mut self.frame_stats {
            stats.record(started.elapsed(), frame.info().cpu_usage);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.studio.settings);
    }

    fn auto_save_interval(&self) -> Duration {
        AUTOSAVE_INTERVAL
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if let Some(stats) = &self.frame_stats {
            eprintln!("{}", stats.summary());
        }
    }
}
