//! The engine thread's loop: take jobs in order, keep the last model loaded,
//! run the pipeline, report every step.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::Device;
use crossbeam_channel::{Receiver, Sender};

use super::protocol::{Command, EncodeRequest, Event, JobId, JobRequest, JobResult, StartImage};
use crate::diffusion::decay::StartLatent;
use crate::diffusion::image_io::{fit_to, load_rgb};
use crate::diffusion::params::GenerationParams;
use crate::diffusion::pipeline::{encode_image, generate, resolve_size};
use crate::diffusion::preview::PreviewMode;
use crate::error::Error;
use crate::models::files::{ModelFiles, ModelLayout};
use crate::models::source::ModelSource;
use crate::models::stable_diffusion::StableDiffusion;
use crate::sampling::schedulers::img2img_start_step;

/// State shared between the handle and the worker.
#[derive(Default)]
pub(crate) struct Shared {
    /// Jobs to cancel (queued or running).
    pub cancelled: Mutex<HashSet<JobId>>,
    /// Set by shutdown: stop after the current step.
    pub shutdown: AtomicBool,
}

impl Shared {
    fn take_cancel(&self, job: JobId) -> bool {
        self.cancelled
            .lock()
            .map(|mut s| s.remove(&job))
            .unwrap_or(false)
    }

    pub(crate) fn is_cancelled(&self, job: JobId) -> bool {
        self.shutdown.load(Ordering::Relaxed)
            || self
                .cancelled
                .lock()
                .map(|s| s.contains(&job))
                .unwrap_or(false)
    }
}

/// Sends events and wakes the receiver (the window's `request_repaint`).
#[derive(Clone)]
pub(crate) struct EventSink {
    pub tx: Sender<Event>,
    pub notify: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl EventSink {
    pub fn send(&self, event: Event) {
        // A dropped receiver means nobody listens any more; nothing to do.
        let _ = self.tx.send(event);
        if let Some(notify) = &self.notify {
            notify();
        }
    }
}

/// Reports the worker's death if it unwinds past the job-level guard.
struct DeathWatch(EventSink);

impl Drop for DeathWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.send(Event::WorkerDied {
                message: "the engine thread crashed".into(),
            });
        }
    }
}

/// The worker's own state: the cached model.
pub(crate) struct Worker {
    pub device: Device,
    pub previews: PreviewMode,
    pub events: EventSink,
    pub shared: Arc<Shared>,
    model: Option<(ModelSource, StableDiffusion)>,
    /// The loaded checkpoint file's A1111 hash (single files only).
    model_hash: Option<String>,
}

impl Worker {
    pub fn new(
        device: Device,
        previews: PreviewMode,
        events: EventSink,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            device,
            previews,
            events,
            shared,
            model_hash: None,
            model: None,
        }
    }

    /// Run until `Shutdown` or until every handle is dropped.
    pub fn run(mut self, commands: Receiver<Command>) {
        let _watch = DeathWatch(self.events.clone());
        while let Ok(command) = commands.recv() {
            let (job, work): (JobId, Work) = match command {
                Command::Shutdown => break,
                Command::Generate(job, request) => (job, Work::Generate(request)),
                Command::EncodeStart(job, request) => (job, Work::Encode(request)),
            };
            if self.shared.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if self.shared.take_cancel(job) {
                self.events.send(Event::Cancelled { job });
                continue;
            }
            // A panic inside one job (a bug) fails that job only.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match &work {
                Work::Generate(request) => {
                    self.run_job(job, request).map(|result| Event::Finished {
                        job,
                        result: Box::new(result),
                    })
                }
                Work::Encode(request) => self
                    .encode_start(job, request)
                    .map(|latent| Event::StartEncoded { job, latent }),
            }));
            let event = match outcome {
                Ok(Ok(done)) => done,
                Ok(Err(Error::Cancelled)) => Event::Cancelled { job },
                Ok(Err(e)) => Event::Failed {
                    job,
                    error: e.one_line(),
                },
                Err(panic) => {
                    // The model may be half-updated; load it afresh next time.
                    self.model = None;
                    Event::Failed {
                        job,
                        error: format!("internal error: {}", panic_message(&panic)),
                    }
                }
            };
            self.shared.take_cancel(job);
            self.events.send(event);
        }
    }

    fn ensure_model(&mut self, job: JobId, source: &ModelSource) -> crate::Result<()> {
        if matches!(&self.model, Some((s, _)) if s == source) {
            return Ok(());
        }
        // Free the old model before loading the next: two never fit together.
        self.model = None;
        let events = self.events.clone();
        let mut progress = |what: &str, p: f32| {
            events.send(Event::ModelLoading {
                job,
                what: what.to_string(),
                progress: p,
            })
        };
        progress("model files", 0.0);
        // A hub model not in the cache yet is downloaded here, reported as
        // loading progress; cancelling the job stops the download.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let shared = self.shared.clone();
        let mut on_download = |p: &crate::hub::DownloadProgress| {
            if shared.is_cancelled(job) {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            progress(&p.describe(), 0.0);
        };
        let mut files = ModelFiles::resolve_with(
            source,
            StableDiffusion::dtype_for(&self.device) != candle_core::DType::F32,
            &stop,
            &mut on_download,
        )
        .map_err(|e| match e {
            Error::Download(crate::hub::DownloadError::Cancelled) => Error::Cancelled,
            e => e,
        })?;
        if !self.previews.wants_taesd(&self.device) {
            files.preview_decoder = None;
        }
        let checkpoint = match &files.layout {
            ModelLayout::SingleFile { path, .. } => Some(path.clone()),
            ModelLayout::Diffusers(_) => None,
        };
        let model = StableDiffusion::load(files, &self.device, &mut progress)?;
        // Like A1111, hash a checkpoint once (then remembered by size and
        // date) so every image names the exact file that made it.
        self.model_hash = checkpoint.and_then(|path| {
            progress("checkpoint hash (once per file)", 0.99);
            crate::models::model_hash::short_hash(
                &path,
                &crate::models::model_hash::default_cache(),
            )
            .map_err(|e| log::warn!("cannot hash {}: {e}", path.display()))
            .ok()
        });
        self.model = Some((source.clone(), model));
        Ok(())
    }

    fn run_job(&mut self, job: JobId, request: &JobRequest) -> crate::Result<JobResult> {
        request.params.validate()?;
        let start_image = request.start_image.as_ref().map(read_start).transpose()?;
        self.ensure_model(job, &request.model)?;
        if self.shared.is_cancelled(job) {
            return Err(Error::Cancelled);
        }
        let (_, model) = self.model.as_ref().expect("model loaded above");
        let params = &request.params;
        let total_steps = match &start_image {
            Some(_) if params.strength < 1.0 => {
                params.steps - img2img_start_step(params.steps, params.strength)
            }
            _ => params.steps,
        };
        self.events.send(Event::Started { job, total_steps });
        let events = &self.events;
        let shared = &self.shared;
        let mut on_step = |p: &crate::diffusion::pipeline::StepProgress| {
            events.send(Event::Step {
                job,
                step: p.step,
                total: p.total,
                preview: Arc::new(p.preview.clone()),
                elapsed: p.elapsed,
            });
            !shared.is_cancelled(job)
        };
        let generated = generate(model, params, start_image.as_deref(), &mut on_step)?;
        let img2img = start_image.is_some() && params.strength < 1.0;
        let start_image_sha256 = start_image
            .as_deref()
            .filter(|_| img2img)
            .map(crate::library::record::image_sha256);
        Ok(JobResult {
            image: Arc::new(generated.image),
            params: generated.params,
            model: request.model.clone(),
            previews: Arc::new(generated.previews),
            token_count: generated.token_count,
            duration: generated.duration,
            img2img,
            start_image_sha256,
            scheduler: model.scheduler_config.for_sampler(params.sampler),
            model_revision: model.files.hub_revision(),
            model_hash: self.model_hash.clone(),
        })
    }

    /// Encode a start image for the decay lens, fitted exactly as a job with
    /// the same size settings would fit it.
    fn encode_start(
        &mut self,
        job: JobId,
        request: &EncodeRequest,
    ) -> crate::Result<Arc<StartLatent>> {
        let image = read_start(&request.image)?;
        self.ensure_model(job, &request.model)?;
        if self.shared.is_cancelled(job) {
            return Err(Error::Cancelled);
        }
        let (_, model) = self.model.as_ref().expect("model loaded above");
        let params = GenerationParams {
            width: request.width,
            height: request.height,
            ..GenerationParams::default()
        };
        let (width, height) = resolve_size(model, &params, Some(&image));
        let factor = model.vae_scale_factor() as u32;
        if width % factor != 0 || height % factor != 0 || width == 0 || height == 0 {
            return Err(Error::InvalidParams(format!(
                "width and height must be multiples of {factor} for this model"
            )));
        }
        let x0 = encode_image(model, &fit_to(&image, width, height))?;
        let (_, c, h, w) = x0.dims4()?;
        Ok(Arc::new(StartLatent {
            latent: x0.flatten_all()?.to_vec1()?,
            shape: [c, h, w],
            preview_map: model.preview_map,
            scheduler: model.scheduler_config.clone(),
            size: (width, height),
        }))
    }
}

/// What one queued command asks the worker to do.
enum Work {
    Generate(Box<JobRequest>),
    Encode(Box<EncodeRequest>),
}

/// Decode a start image (on the worker, never on the caller's thread).
fn read_start(image: &StartImage) -> crate::Result<Arc<image::RgbImage>> {
    match image {
        StartImage::Path(p) => Ok(Arc::new(load_rgb(p)?)),
        StartImage::Image(img) => Ok(img.clone()),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
