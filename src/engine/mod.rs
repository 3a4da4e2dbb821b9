//! The background engine: one worker thread owns the models and runs jobs in
//! order; the window or the CLI sends [`Command`]s and drains [`Event`]s.
//!
//! Nothing here blocks the caller: submitting, cancelling and reading events
//! are channel operations. Cancellation is seen by the worker between steps.

mod downloads;
mod png_text;
mod protocol;
mod worker;

pub use protocol::{
    Command, DownloadUpdate, EncodeRequest, Event, JobId, JobRequest, JobResult, StartImage,
};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use candle_core::Device;
use crossbeam_channel::{Receiver, Sender};

use crate::diffusion::preview::PreviewMode;

use worker::{EventSink, Shared, Worker};

/// How to start the engine.
#[derive(Clone)]
pub struct EngineOptions {
    /// Where the models compute.
    pub device: Device,
    /// Compute threads. `None`: all cores. Keeping one core for the window
    /// halved a 2-core laptop's speed for nothing: a frame needs a few
    /// milliseconds, which the OS scheduler finds among the compute threads
    /// (measured: frame p99 stays under 16 ms during generation).
    pub threads: Option<usize>,
    /// Called after every event is sent (e.g. egui's `request_repaint`).
    pub notify: Option<Arc<dyn Fn() + Send + Sync>>,
    /// How step previews are decoded.
    pub previews: PreviewMode,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            threads: None,
            notify: None,
            previews: PreviewMode::Auto,
        }
    }
}

impl EngineOptions {
    /// The thread count actually used.
    fn compute_threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Handle to the engine thread. Dropping it shuts the engine down.
pub struct Engine {
    options: EngineOptions,
    commands: Sender<Command>,
    events_tx: Sender<Event>,
    events: Receiver<Event>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    next_id: AtomicU64,
    downloads: Arc<downloads::Downloads>,
}

impl Engine {
    /// Start the worker thread.
    pub fn spawn(options: EngineOptions) -> crate::Result<Self> {
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (commands, thread, shared) = start_worker(&options, events_tx.clone())?;
        Ok(Self {
            options,
            commands,
            events_tx,
            events,
            shared,
            thread: Some(thread),
            next_id: AtomicU64::new(1),
            downloads: Arc::default(),
        })
    }

    /// Queue a job; it runs after every job queued before it.
    pub fn submit(&self, request: JobRequest) -> JobId {
        self.send(|id| Command::Generate(id, Box::new(request)))
    }

    /// Queue a start-image encode for the decay lens; answered by
    /// [`Event::StartEncoded`] (or `Failed` / `Cancelled`).
    pub fn encode_start(&self, request: EncodeRequest) -> JobId {
        self.send(|id| Command::EncodeStart(id, Box::new(request)))
    }

    fn send(&self, command: impl FnOnce(JobId) -> Command) -> JobId {
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        if self.commands.send(command(id)).is_err() {
            let _ = self.events_tx.send(Event::Failed {
                job: id,
                error: "the engine is not running; restart it".into(),
            });
        }
        id
    }

    /// Whether the engine computes in f16 (GPUs): then fp16 weight variants,
    /// half the download, are the ones to fetch.
    pub fn computes_in_f16(&self) -> bool {
        crate::models::stable_diffusion::StableDiffusion::dtype_for(&self.options.device)
            == candle_core::DType::F16
    }

    /// Fetch model files into the Hugging Face cache, beside the jobs.
    /// Progress and the outcome arrive as [`Event::Download`]; [`Self::cancel`]
    /// stops it (the partial file is kept, and the next try resumes it).
    pub fn download(&self, request: crate::hub::DownloadRequest) -> JobId {
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let sink = EventSink {
            tx: self.events_tx.clone(),
            notify: self.options.notify.clone(),
        };
        self.downloads.start(id, request, sink);
        id
    }

    /// Cancel a queued or running job (a running one stops after its current
    /// step), or a download (between two chunks).
    pub fn cancel(&self, job: JobId) {
        if self.downloads.cancel(job) {
            return;
        }
        if let Ok(mut set) = self.shared.cancelled.lock() {
            set.insert(job);
        }
    }

    /// The event stream. Use `try_iter()` once per frame in a UI.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Start a fresh worker after the old one died. Queued jobs of the old
    /// worker are lost (their submitters saw `WorkerDied`).
    pub fn restart(&mut self) -> crate::Result<()> {
        self.stop();
        let (commands, thread, shared) = start_worker(&self.options, self.events_tx.clone())?;
        self.commands = commands;
        self.thread = Some(thread);
        self.shared = shared;
        Ok(())
    }

    /// Stop after the current step and wait for the thread to exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

type Started = (Sender<Command>, JoinHandle<()>, Arc<Shared>);

fn start_worker(options: &EngineOptions, events_tx: Sender<Event>) -> crate::Result<Started> {
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared::default());
    let sink = EventSink {
        tx: events_tx,
        notify: options.notify.clone(),
    };
    let worker = Worker::new(
        options.device.clone(),
        options.previews,
        sink,
        shared.clone(),
    );
    let threads = options.compute_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("latent-compute-{i}"))
        .build()
        .map_err(|e| crate::Error::InvalidParams(format!("cannot start compute threads: {e}")))?;
    let thread = std::thread::Builder::new()
        .name("latent-engine".into())
        // All tensor work inside the job runs on our sized pool, not rayon's global one.
        .spawn(move || pool.install(|| worker.run(command_rx)))
        .map_err(|e| crate::Error::io("engine thread", e))?;
    Ok((commands, thread, shared))
}
