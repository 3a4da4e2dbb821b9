//! The messages between the engine thread and whoever drives it (the window, the CLI).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;

use crate::diffusion::decay::StartLatent;
use crate::diffusion::params::GenerationParams;
use crate::diffusion::preview::PreviewImage;
use crate::hub::DownloadProgress;
use crate::models::source::ModelSource;
use crate::sampling::schedulers::SchedulerConfig;

/// Identifies a job for its whole life; assigned by [`super::Engine::submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The start image of an img2img job.
#[derive(Debug, Clone)]
pub enum StartImage {
    /// A file the engine reads (so large files never decode on the UI thread).
    Path(PathBuf),
    /// An image already in memory (e.g. "Vary" on a result).
    Image(Arc<RgbImage>),
}

/// One image to make.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Which model (loaded on first use, then cached).
    pub model: ModelSource,
    /// The settings.
    pub params: GenerationParams,
    /// Set for img2img.
    pub start_image: Option<StartImage>,
}

/// Encode a start image to latents, for the decay lens (no denoising).
#[derive(Debug, Clone)]
pub struct EncodeRequest {
    /// The model whose VAE encodes it.
    pub model: ModelSource,
    /// The image.
    pub image: StartImage,
    /// Pixel size to fit the image to (`None`: as a job with no size would).
    pub width: Option<u32>,
    /// See `width`.
    pub height: Option<u32>,
}

/// What the engine is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Queue a job (FIFO).
    Generate(JobId, Box<JobRequest>),
    /// Queue a start-image encode (FIFO with the jobs).
    EncodeStart(JobId, Box<EncodeRequest>),
    /// Finish the current step, then stop; drop everything and exit.
    Shutdown,
}

/// The final result of a job.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// The image decoded by the full VAE.
    pub image: Arc<RgbImage>,
    /// The parameters with every default filled in.
    pub params: GenerationParams,
    /// The model it was made with.
    pub model: ModelSource,
    /// One preview per step (the emergence timeline).
    pub previews: Arc<Vec<PreviewImage>>,
    /// Prompt length in tokens.
    pub token_count: usize,
    /// Made from a start image (img2img) rather than from noise alone.
    pub img2img: bool,
    /// img2img: SHA-256 of the start image's RGB pixels (hex).
    pub start_image_sha256: Option<String>,
    /// The scheduler settings the sampler ran with (model config + sampler defaults).
    pub scheduler: SchedulerConfig,
    /// Hub models: the snapshot (commit) the files came from.
    pub model_revision: Option<String>,
    /// Single-file checkpoints: A1111's short hash of the file, when known.
    pub model_hash: Option<String>,
    /// Time the job took, model loading excluded.
    pub duration: Duration,
}

/// What the engine reports. Every job ends in exactly one of `Finished`
/// (`StartEncoded` for an encode request), `Cancelled` or `Failed`.
#[derive(Debug, Clone)]
pub enum Event {
    /// A model is being loaded for `job`; `progress` runs from 0 to 1.
    ModelLoading {
        /// The job waiting for it.
        job: JobId,
        /// What is loading right now ("U-Net", ...).
        what: String,
        /// Fraction done.
        progress: f32,
    },
    /// `job` started denoising.
    Started {
        /// The job.
        job: JobId,
        /// Steps it will run.
        total_steps: usize,
    },
    /// A step finished.
    Step {
        /// The job.
        job: JobId,
        /// 1-based step index.
        step: usize,
        /// Steps in this job.
        total: usize,
        /// Predicted clean image after the step.
        preview: Arc<PreviewImage>,
        /// Time since denoising started.
        elapsed: Duration,
    },
    /// The job produced its image.
    Finished {
        /// The job.
        job: JobId,
        /// Image, parameters, timeline.
        result: Box<JobResult>,
    },
    /// An [`EncodeRequest`] is done.
    StartEncoded {
        /// The request.
        job: JobId,
        /// The latent and the model's noise schedule.
        latent: Arc<StartLatent>,
    },
    /// The job was cancelled (before or while running).
    Cancelled {
        /// The job.
        job: JobId,
    },
    /// The job failed; the engine goes on with the next one.
    Failed {
        /// The job.
        job: JobId,
        /// A one-line message for the person.
        error: String,
    },
    /// A model download ([`super::Engine::download`]) moved on.
    Download {
        /// The download.
        job: JobId,
        /// What happened.
        update: DownloadUpdate,
    },
    /// The worker thread died (a bug); [`super::Engine::restart`] brings it back.
    WorkerDied {
        /// What it died of.
        message: String,
    },
}

/// How a model download is going.
#[derive(Debug, Clone)]
pub enum DownloadUpdate {
    /// Bytes arrived.
    Progress(DownloadProgress),
    /// Every file is in the hub cache.
    Finished {
        /// The snapshot folder holding the files.
        snapshot: PathBuf,
        /// Bytes that came over the network (0 when all were cached).
        fetched_bytes: u64,
    },
    /// It stopped with this message (partial files are kept for a resume).
    Failed(String),
    /// Cancelled by the user (partial files are kept for a resume).
    Cancelled,
}

impl Event {
    /// The job this event is about, if any.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Event::ModelLoading { job, .. }
            | Event::Started { job, .. }
            | Event::Step { job, .. }
            | Event::Finished { job, .. }
            | Event::StartEncoded { job, .. }
            | Event::Cancelled { job }
            | Event::Download { job, .. }
            | Event::Failed { job, .. } => Some(*job),
            Event::WorkerDied { .. } => None,
        }
    }
}
