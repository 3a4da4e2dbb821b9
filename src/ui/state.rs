//! The window's data, apart from any drawing: the job queue, the run in
//! progress, the gallery, the start image, notifications. Panels read it and
//! return [`crate::ui::actions::Action`]s; the controller changes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::diffusion::decay::DecayLens;
use crate::diffusion::params::GenerationParams;
use crate::diffusion::preview::PreviewImage;
use crate::engine::{JobId, JobResult};
use crate::sampling::schedulers::SamplerKind;
use crate::ui::notifications::Notifications;
use crate::ui::settings::Settings;

/// Everything the window shows.
pub struct Studio {
    /// Persisted settings (prompt, parameters, model, ...).
    pub settings: Settings,
    /// Jobs submitted and not yet finished, in engine order.
    pub queue: Vec<QueuedJob>,
    /// Progress of the job the engine is working on.
    pub live: Option<LiveRun>,
    /// Finished images of this session, oldest first.
    pub gallery: Vec<GalleryItem>,
    /// The gallery item shown large.
    pub selected: Option<usize>,
    /// Show the running job on the canvas (off while the person looks at
    /// earlier results during a run; Generate turns it back on).
    pub follow_live: bool,
    /// Timeline frame shown on the canvas instead of the image (hover/scrub
    /// or arrow keys); an index into the shown timeline.
    pub scrub: Option<usize>,
    /// Timeline frame under the mouse this frame (shown like `scrub`, not pinned).
    pub hover_frame: Option<usize>,
    /// The img2img start image.
    pub start: Option<StartImageState>,
    /// Messages for the person.
    pub notifications: Notifications,
    /// Models found on this machine (hub cache, recent folders).
    pub models: Vec<ModelChoice>,
    /// Whether the scan for models has finished.
    pub models_scanned: bool,
    /// Prompt token counts (`None` until the tokenizer is loaded).
    pub tokens: TokenCount,
    /// Where starred images go.
    pub favorites_dir: PathBuf,
    /// The model field being typed (applied on Enter / "Use").
    pub model_input: String,
    /// Which main view is shown.
    pub view: View,
    /// The library browser.
    pub library: LibraryState,
    /// Model downloads in flight.
    pub downloads: Vec<ModelDownload>,
    /// Installed catalog entries that are not pipelines (TAESD, VAEs), by id.
    pub installed_extras: Vec<&'static str>,
    /// Catalog entries partly downloaded (Download resumes them), by id.
    pub partial_downloads: Vec<(&'static str, f32)>,
}

/// A catalog model being downloaded.
#[derive(Debug, Clone)]
pub struct ModelDownload {
    /// Catalog id.
    pub id: &'static str,
    /// The engine's handle for it (to cancel).
    pub job: JobId,
    /// One line: file, bytes, rate, time left.
    pub label: String,
    /// Fraction of the bytes in the cache, 0..=1.
    pub fraction: f32,
}

/// The main views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Prompt, canvas, timeline, session gallery.
    #[default]
    Studio,
    /// Every saved image: favorites and history.
    Library,
}

/// The library browser's state.
#[derive(Debug, Default)]
pub struct LibraryState {
    /// Prompt search text.
    pub query: String,
    /// Show favorites only.
    pub favorites_only: bool,
    /// The current results, newest first.
    pub entries: Vec<crate::library::index::Entry>,
    /// Generation of the newest search sent (older answers are dropped).
    pub generation: u64,
    /// The (query, favorites_only) the results are for.
    pub searched: Option<(String, bool)>,
    /// Index into `entries` shown in the details bar.
    pub selected: Option<usize>,
    /// Entry id waiting for the person to confirm deletion.
    pub confirm_delete: Option<i64>,
    /// Set when the library cannot be used (shown instead of the grid).
    pub unavailable: Option<String>,
}

/// A job waiting in or running on the engine.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Engine id.
    pub id: JobId,
    /// Its parameters (for the queue list).
    pub params: GenerationParams,
    /// Whether it starts from an image.
    pub img2img: bool,
}

/// The job in progress, as far as the events have told.
#[derive(Debug, Clone)]
pub struct LiveRun {
    /// Engine id.
    pub job: JobId,
    /// Model loading progress `(what, fraction)` before denoising starts.
    pub loading: Option<(String, f32)>,
    /// Steps done.
    pub step: usize,
    /// Steps this job runs.
    pub total: usize,
    /// Time since denoising started, at the last step.
    pub elapsed: Duration,
    /// When this run started (loading included).
    pub since: Instant,
    /// One preview per finished step.
    pub previews: Vec<Arc<PreviewImage>>,
}

impl LiveRun {
    /// A run that has just been picked up.
    pub fn new(job: JobId) -> Self {
        Self {
            job,
            loading: None,
            step: 0,
            total: 0,
            elapsed: Duration::ZERO,
            since: Instant::now(),
            previews: Vec::new(),
        }
    }

    /// Average seconds per step so far.
    pub fn seconds_per_step(&self) -> Option<f64> {
        (self.step > 0).then(|| self.elapsed.as_secs_f64() / self.step as f64)
    }

    /// Estimated time to the last step (the VAE decode comes on top).
    pub fn eta(&self) -> Option<Duration> {
        self.seconds_per_step()
            .map(|s| Duration::from_secs_f64(s * (self.total.saturating_sub(self.step)) as f64))
    }

    /// Fraction done, 0..=1.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            self.step as f32 / self.total as f32
        }
    }
}

/// One finished image.
#[derive(Debug, Clone)]
pub struct GalleryItem {
    /// Stable id (textures are keyed by it).
    pub id: u64,
    /// Image, parameters, model, timeline.
    pub result: Arc<JobResult>,
    /// Starred by the person.
    pub starred: bool,
    /// Where the starred copy was saved.
    pub saved_path: Option<PathBuf>,
    /// Saving in progress (a second star press waits for it).
    pub saving: bool,
}

/// The start image and its decay lens.
pub struct StartImageState {
    /// The decoded image.
    pub image: Arc<RgbImage>,
    /// What to call it (file name or "Result 3").
    pub name: String,
    /// Stable id (for the thumbnail texture).
    pub id: u64,
    /// Encoded latent + noise, once the engine has answered.
    pub lens: Option<DecayLens>,
    /// Pending encode request and what it was for.
    pub lens_request: Option<(JobId, LensKey)>,
    /// What the current `lens` was encoded for.
    pub lens_key: Option<LensKey>,
    /// The lens' timestep slider.
    pub lens_t: f64,
    /// The encode failed; shown instead of the lens.
    pub lens_error: Option<String>,
    /// (strength, steps, sampler) that `lens_t` was last moved to img2img's start for.
    pub lens_synced_to: Option<(f64, usize, SamplerKind)>,
    /// Generation parameters stored in the file, if it has any.
    pub found: Option<crate::library::info::ImageInfo>,
}

/// What a lens encoding depends on; a change asks the engine again.
#[derive(Debug, Clone, PartialEq)]
pub struct LensKey {
    /// The model.
    pub model: String,
    /// The size setting.
    pub size: Option<(u32, u32)>,
}

impl StartImageState {
    /// A start image with no lens yet.
    pub fn new(image: Arc<RgbImage>, name: String, id: u64) -> Self {
        Self {
            image,
            name,
            id,
            lens: None,
            lens_request: None,
            lens_key: None,
            lens_t: 0.0,
            lens_error: None,
            lens_synced_to: None,
            found: None,
        }
    }
}

/// A model the picker offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// What goes into the model setting (folder path or repo id).
    pub value: String,
    /// Where it was found ("hub cache", "folder").
    pub origin: String,
    /// How it is shown, worked out when it was found (panels never look at
    /// the disk, which telling a folder from a repo id needs).
    pub name: String,
}

impl ModelChoice {
    /// A choice of `value` found at `origin`; looks at the disk for its
    /// name, so it is made off the drawing code.
    pub fn new(value: String, origin: &str) -> Self {
        ModelChoice {
            name: crate::models::source::model_display_name(&value),
            value,
            origin: origin.into(),
        }
    }
}

/// Prompt token counts, for the "23/75" counters.
#[derive(Debug, Clone, Default)]
pub struct TokenCount {
    /// Tokens in the prompt and their 75-token chunks.
    pub prompt: Option<(usize, usize)>,
    /// Same for the negative prompt.
    pub negative: Option<(usize, usize)>,
    /// The texts these counts are for (`None`: not counted yet).
    pub counted: (Option<String>, Option<String>),
}

impl Studio {
    /// How the model setting `value` is shown: its name in the model list,
    /// else the catalog's name, else the value itself. Never looks at the disk.
    pub fn model_label(&self, value: &str) -> String {
        if let Some(m) = self.models.iter().find(|m| m.value == value) {
            return m.name.clone();
        }
        match crate::models::catalog::for_repo(value) {
            Some(entry) => entry.name.to_string(),
            None => value.to_string(),
        }
    }

    /// A fresh window state.
    pub fn new(settings: Settings, favorites_dir: PathBuf) -> Self {
        Self {
            settings,
            queue: Vec::new(),
            live: None,
            gallery: Vec::new(),
            selected: None,
            follow_live: true,
            scrub: None,
            hover_frame: None,
            start: None,
            notifications: Notifications::default(),
            models: Vec::new(),
            models_scanned: false,
            tokens: TokenCount::default(),
            favorites_dir,
            model_input: String::new(),
            view: View::Studio,
            library: LibraryState::default(),
            downloads: Vec::new(),
            installed_extras: Vec::new(),
            partial_downloads: Vec::new(),
        }
    }

    /// Whether the engine has anything to do.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The gallery item shown large, if any.
    fn selected_item(&self) -> Option<&GalleryItem> {
        self.selected.and_then(|i| self.gallery.get(i))
    }

    /// The step previews the timeline shows: the live run's while one runs
    /// and nothing is selected after it, else the selected image's.
    pub fn timeline(&self) -> TimelineView<'_> {
        match (&self.live, self.selected_item()) {
            (Some(live), _) if live.total > 0 && self.follow_live => TimelineView::Live(live),
            (_, Some(item)) => TimelineView::Item(item),
            _ => TimelineView::Empty,
        }
    }

    /// Select the next (`+1`) or previous (`-1`) gallery image.
    pub fn step_gallery(&mut self, delta: isize) {
        if self.gallery.is_empty() {
            return;
        }
        let last = self.gallery.len() as isize - 1;
        let current = self.selected.map_or(last, |i| i as isize);
        self.selected = Some((current + delta).clamp(0, last) as usize);
        self.scrub = None;
        self.follow_live = self.live.is_none();
    }

    /// Move the timeline scrub position by `delta` frames (leaving it at
    /// the end shows the final image again).
    pub fn step_timeline(&mut self, delta: isize) {
        let len = self.timeline().len();
        if len == 0 {
            return;
        }
        let current = self.scrub.map_or(len as isize, |i| i as isize);
        let next = current + delta;
        self.scrub = (0..len as isize).contains(&next).then_some(next as usize);
    }
}

/// The frames the timeline shows.
pub enum TimelineView<'a> {
    /// Nothing generated yet.
    Empty,
    /// The run in progress.
    Live(&'a LiveRun),
    /// A finished image.
    Item(&'a GalleryItem),
}

impl TimelineView<'_> {
    /// Number of frames.
    pub fn len(&self) -> usize {
        match self {
            TimelineView::Empty => 0,
            TimelineView::Live(l) => l.previews.len(),
            TimelineView::Item(i) => i.result.previews.len(),
        }
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frame `i`.
    pub fn frame(&self, i: usize) -> Option<&PreviewImage> {
        match self {
            TimelineView::Empty => None,
            TimelineView::Live(l) => l.previews.get(i).map(|p| p.as_ref()),
            TimelineView::Item(item) => item.result.previews.get(i),
        }
    }

    /// Identifies the frame set (textures are rebuilt when it changes).
    pub fn key(&self) -> Option<TimelineKey> {
        match self {
            TimelineView::Empty => None,
            TimelineView::Live(l) => Some(TimelineKey::Live(l.job)),
            TimelineView::Item(i) => Some(TimelineKey::Item(i.id)),
        }
    }
}

/// Which frame set a timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineKey {
    /// The live run of this job.
    Live(JobId),
    /// The gallery item with this id.
    Item(u64),
}
