//! `latent-studio generate`: one image from the command line, with progress.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::preview::PreviewMode;
use latent_studio::engine::{Engine, EngineOptions, Event, JobRequest, StartImage};
use latent_studio::library::emergence_gif::{save_emergence, FRAME_TIME};
use latent_studio::library::image_files::save_png_to;
use latent_studio::models::install::default_model;
use latent_studio::models::source::ModelSource;
use latent_studio::sampling::rng::RngKind;
use latent_studio::sampling::schedulers::SamplerKind;

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A catalog id (`latent-studio models list`), a Hugging Face repo id, a
    /// diffusers folder or a .safetensors checkpoint (default: an installed model,
    /// else the built-in `emoji-mini`).
    #[arg(long)]
    pub model: Option<String>,
    /// What to draw.
    #[arg(long)]
    pub prompt: String,
    /// What to avoid.
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    /// Denoising steps (default: the model's own, e.g. 20 for SD 1.5, 2 for Turbo/LCM/Lightning).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale; ≤ 1 turns guidance off (default: the model's own, 0 for Turbo).
    #[arg(long)]
    pub cfg: Option<f64>,
    /// Seed; the same seed, model and settings give the same image.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampler: euler-a, euler, dpmpp-2m, dpmpp-2m-karras, ddim, lcm.
    #[arg(long, default_value = "euler-a")]
    pub sampler: SamplerKind,
    /// Image width (default: the model's native size, or the start image's aspect).
    #[arg(long)]
    pub width: Option<u32>,
    /// Image height.
    #[arg(long)]
    pub height: Option<u32>,
    /// Start image for img2img.
    #[arg(long)]
    pub init_image: Option<PathBuf>,
    /// img2img: 0 keeps the start image, 1 ignores it.
    #[arg(long, default_value_t = 0.75)]
    pub strength: f64,
    /// Noise generator: torch-cpu reproduces PyTorch's CPU generator exactly.
    #[arg(long, default_value = "torch-cpu")]
    pub rng: RngKind,
    /// Write every step's preview as PNG into this folder.
    #[arg(long)]
    pub previews: Option<PathBuf>,
    /// Also save the emergence (every step, then the image) as an animated
    /// GIF, as the window's *Export GIF…* does.
    #[arg(long, value_name = "FILE")]
    pub gif: Option<PathBuf>,
    /// Step previews: auto (TAESD on GPUs), fast (linear map), taesd (when installed).
    #[arg(long, default_value = "auto")]
    pub preview: PreviewMode,
    /// Compute threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to write the PNG.
    #[arg(long)]
    pub out: PathBuf,
}

/// Run the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let source = match &args.model {
        Some(m) => ModelSource::parse(m),
        None => default_model().context(
            "no model given, none installed, and the built-in emoji model's files \
             (assets/mini-emoji) are missing: pass --model <diffusers folder or hub id>, \
             e.g. --model stabilityai/sd-turbo (downloads about 5 GB into the Hugging Face cache)",
        )?,
    };
    if args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        != Some("png".into())
    {
        bail!("--out must end in .png (got {})", args.out.display());
    }
    if let Some(dir) = &args.previews {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create previews folder {}", dir.display()))?;
    }
    let defaults = GenerationParams::defaults_for(&source);
    let params = GenerationParams {
        prompt: args.prompt.clone(),
        negative_prompt: args.negative_prompt.clone(),
        steps: args.steps.unwrap_or(defaults.steps),
        cfg_scale: args.cfg.unwrap_or(defaults.cfg_scale),
        seed: args.seed,
        sampler: args.sampler,
        width: args.width,
        height: args.height,
        rng: args.rng,
        strength: args.strength,
    };
    params.validate()?;

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let engine = Engine::spawn(EngineOptions {
        threads: Some(threads),
        previews: args.preview,
        ..Default::default()
    })?;
    let job = engine.submit(JobRequest {
        model: source,
        params,
        start_image: args.init_image.clone().map(StartImage::Path),
    });

    let mut stderr = std::io::stderr();
    // A download reports ~10 times a second; a line every 2 s is enough here.
    let mut last_download_line: Option<std::time::Instant> = None;
    for event in engine.events().iter() {
        if event.job() != Some(job) {
            continue;
        }
        match event {
            Event::ModelLoading { what, .. }
                if what.starts_with("downloading")
                    && last_download_line.is_some_and(|t| t.elapsed().as_secs() < 2) => {}
            Event::ModelLoading { what, progress, .. } => {
                if what.starts_with("downloading") {
                    last_download_line = Some(std::time::Instant::now());
                    let _ = writeln!(stderr, "{what}");
                } else if progress >= 1.0 {
                    let _ = writeln!(stderr, "model loaded");
                } else {
                    let _ = writeln!(stderr, "loading {what} ({:.0}%)", progress * 100.0);
                }
            }
            Event::Download { .. } => {}
            Event::Started { total_steps, .. } => {
                let _ = writeln!(stderr, "denoising {total_steps} steps");
            }
            Event::Step {
                step,
                total,
                preview,
                elapsed,
                ..
            } => {
                let per_step = elapsed.as_secs_f64() / step as f64;
                let _ = writeln!(stderr, "step {step}/{total}  {per_step:.2} s/step");
                if let Some(dir) = &args.previews {
                    let path = dir.join(format!("step-{step:03}.png"));
                    if let Some(img) = preview.to_rgba_image() {
                        img.save(&path)
                            .with_context(|| format!("cannot write preview {}", path.display()))?;
                    }
                }
            }
            Event::Finished { result, .. } => {
                save_png_to(&args.out, &result.image, &result.png_text())
                    .with_context(|| format!("cannot write {}", args.out.display()))?;
                if let Some(gif) = &args.gif {
                    save_emergence(gif, &result.previews, &result.image, FRAME_TIME)
                        .with_context(|| format!("cannot write {}", gif.display()))?;
                }
                let _ = writeln!(
                    stderr,
                    "wrote {} ({}x{}, {} tokens, {:.1} s)",
                    args.out.display(),
                    result.image.width(),
                    result.image.height(),
                    result.token_count,
                    result.duration.as_secs_f64()
                );
                return Ok(());
            }
            Event::Cancelled { .. } => bail!("cancelled"),
            Event::Failed { error, .. } => bail!("{error}"),
            Event::WorkerDied { message } => bail!("{message}"),
            // This command never asks for a start-image encode.
            Event::StartEncoded { .. } => {}
        }
    }
    bail!("the engine stopped unexpectedly")
}
