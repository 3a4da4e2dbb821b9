//! Speed and memory of the engine's parts on SD1.5-shaped random weights.
//!
//!     cargo bench --bench engine            # all stages
//!     cargo bench --bench engine -- unet256 # one stage
//!
//! The weights (4.2 GB, f32) are written once, as a diffusers model folder,
//! to `LATENT_BENCH_DIR` (default: target/bench-sd15-diffusers) and loaded
//! through the real loader. `LATENT_BENCH_DTYPE=f16` writes and loads them
//! in f16 instead (2.1 GB, target/bench-sd15-diffusers-f16), as most
//! published checkpoints ship: kept as f16, computed in f32. Each
//! stage runs in its own process so its peak RSS is its own. Runs per stage:
//! `LATENT_BENCH_RUNS` (default 3; the first run is a warm-up and not counted
//! when more than one run is made).
//!
//! Stages: `load` (U-Net alone), `text`, `unet256`, `unet512`, `vae512`,
//! `job256`/`job512` (steps of a whole job as a user waits for them, timed
//! between progress callbacks; `LATENT_BENCH_RUNS` + 1 steps, the first
//! dropped), `preview`, `taesd512`, `pipeline512`, the kernels `matmul`,
//! `conv`, `geglu`, `attention`, `noise` (no weights needed), `mini-load` and `mini` (the
//! built-in emoji model, real weights: its load, and one image at its
//! default settings), and the whole-model loads through
//! `StableDiffusion::load`:
//!
//! - `load-cold` / `load-warm`: the diffusers folder, with the folder's files
//!   evicted from the OS page cache before every run (cold, Linux only) or
//!   left cached (warm);
//! - `ckpt-cold` / `ckpt-warm`: the same model as one single-file checkpoint
//!   in the original LDM layout, written once from the folder next to it
//!   (`<dir minus "-diffusers">-single.safetensors`, 4.2 GB; only when a
//!   `ckpt-` stage runs).
//!
//! The load stages also report "RSS after load": VmRSS right after the first
//! load of the process, with the model alive (other stages show "–"). Notes
//! the stages print (page-cache eviction, RSS breakdown) follow the table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde_json::json;

use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::pipeline::generate;
use latent_studio::diffusion::preview::latent_preview;
use latent_studio::models::files::ModelFiles;
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::StableDiffusion;
use latent_studio::models::tokenizer::ClipTokenizer;
use latent_studio::models::weights::WeightSet;
use latent_studio::networks::clip::{ClipTextConfig, ClipTextModel};
use latent_studio::networks::taesd::{TinyDecoder, TinyDecoderConfig};
use latent_studio::networks::unet::{UNet2DConditionModel, UNetConfig};
use latent_studio::networks::vae::{AutoencoderKl, LatentSpace, VaeConfig};
use latent_studio::sampling::rng::{NoiseSource, TorchCpuRng};
use latent_studio::testing::random_weights::{write_random_weights, write_random_weights_in};

const STAGES: &[(&str, &str)] = &[
    ("load", "load U-Net weights (3.4 GB f32)"),
    ("text", "text encoding, prompt + negative"),
    ("unet256", "U-Net step 256² with CFG (batch 2)"),
    ("unet512", "U-Net step 512² with CFG (batch 2)"),
    ("vae512", "VAE decode 512²"),
    ("preview", "latent→RGB preview 64×64 latent"),
    ("taesd512", "TAESD preview decode 64×64 latent → 512²"),
    (
        "job256",
        "what a user waits per step: a 256² job through generate (DDIM, CFG 7.5), s per step",
    ),
    (
        "job512",
        "the same at 512²: s per step of a whole job (U-Net + guidance + sampler + preview)",
    ),
    (
        "pipeline512",
        "whole job: load, 1 step 512² CFG, VAE decode",
    ),
    (
        "load-cold",
        "load whole model, diffusers folder, cold cache",
    ),
    (
        "load-warm",
        "load whole model, diffusers folder, warm cache",
    ),
    (
        "ckpt-cold",
        "load whole model, single-file checkpoint, cold cache",
    ),
    (
        "ckpt-warm",
        "load whole model, single-file checkpoint, warm cache",
    ),
    ("matmul", "f32 matmul 4096×4096×4096 (137 GFLOP)"),
    (
        "conv",
        "3×3 conv 320→320 ch on 2×64×64 (the U-Net's first level at 512², CFG)",
    ),
    (
        "geglu",
        "GEGLU of the first transformer at 512², CFG ([2, 4096, 2·1280·4])",
    ),
    (
        "attention",
        "self-attention of the first transformer at 512², CFG (16 heads·batch × 4096 tokens × 40)",
    ),
    (
        "noise",
        "seeded noise: randn 4×128×128 (an SDXL 1024² latent)",
    ),
    ("mini-load", "built-in emoji model: load"),
    (
        "mini",
        "built-in emoji model: one image at its defaults (64², CFG)",
    ),
];

/// The test-side diffusers → LDM converter (`tests/common/ldm.rs`), reused to
/// write the single-file checkpoint. It names `super::Family`.
#[path = "../tests/common/ldm.rs"]
mod ldm;

/// Which pipeline layout `ldm::write_checkpoint` writes (only `Sd1` here).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Sd1,
    Sd2,
    Sdxl,
}

fn unet_config() -> serde_json::Value {
    json!({
        "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
        "cross_attention_dim": 768, "layers_per_block": 2, "sample_size": 64,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    })
}

fn vae_config() -> serde_json::Value {
    json!({
        "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4,
        "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215,
        "down_block_types": vec!["DownEncoderBlock2D"; 4], "up_block_types": vec!["UpDecoderBlock2D"; 4],
    })
}

fn clip_config() -> serde_json::Value {
    json!({
        "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
        "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5, "projection_dim": 768,
    })
}

const UNET: &str = "unet/diffusion_pytorch_model.safetensors";
const VAE: &str = "vae/diffusion_pytorch_model.safetensors";
const CLIP: &str = "text_encoder/model.safetensors";

fn taesd_config() -> TinyDecoderConfig {
    serde_json::from_value(json!({})).expect("TAESD defaults")
}

/// The dtype the weights are written in: `LATENT_BENCH_DTYPE=f16` (as most
/// published checkpoints ship; kept as f16 in memory and computed in f32) or
/// f32 (the default).
fn weights_dtype() -> DType {
    match std::env::var("LATENT_BENCH_DTYPE").as_deref() {
        Ok("f16") => DType::F16,
        _ => DType::F32,
    }
}

fn bench_dir() -> PathBuf {
    std::env::var_os("LATENT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let name = match weights_dtype() {
                DType::F16 => "target/bench-sd15-diffusers-f16",
                _ => "target/bench-sd15-diffusers",
            };
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
        })
}

fn ensure_weights(dir: &Path) -> anyhow::Result<()> {
    let marker = dir.join("complete");
    if marker.exists() {
        return Ok(());
    }
    eprintln!(
        "writing SD1.5-shaped random weights to {} (once)",
        dir.display()
    );
    let unet: UNetConfig = serde_json::from_value(unet_config())?;
    let vae: VaeConfig = serde_json::from_value(vae_config())?;
    let clip: ClipTextConfig = serde_json::from_value(clip_config())?;
    let dtype = weights_dtype();
    let n = write_random_weights_in(&dir.join(UNET), 1, dtype, |vb| {
        UNet2DConditionModel::new(vb, &unet)
    })?;
    eprintln!("  U-Net: {n} parameters");
    write_random_weights_in(&dir.join(VAE), 2, dtype, |vb| AutoencoderKl::new(vb, &vae))?;
    write_random_weights_in(&dir.join(CLIP), 3, dtype, |vb| {
        ClipTextModel::new(vb, &clip, false)
    })?;
    let write = |path: &str, value: serde_json::Value| -> anyhow::Result<()> {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        Ok(std::fs::write(path, serde_json::to_string_pretty(&value)?)?)
    };
    write("unet/config.json", unet_config())?;
    write("vae/config.json", vae_config())?;
    write("text_encoder/config.json", clip_config())?;
    write(
        "scheduler/scheduler_config.json",
        json!({"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear",
               "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
               "timestep_spacing": "leading"}),
    )?;
    write(
        "tokenizer/tokenizer_config.json",
        json!({"pad_token": "<|endoftext|>"}),
    )?;
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets");
    for f in ["vocab.json", "merges.txt"] {
        std::fs::copy(assets.join(f), dir.join("tokenizer").join(f))?;
    }
    write(
        "model_index.json",
        json!({
            "_class_name": "StableDiffusionPipeline",
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        }),
    )?;
    std::fs::write(marker, b"ok")?;
    Ok(())
}

/// The single-file checkpoint next to the diffusers folder `dir`.
fn checkpoint_path(dir: &Path) -> PathBuf {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("bench");
    let stem = name.strip_suffix("-diffusers").unwrap_or(name);
    dir.with_file_name(format!("{stem}-single.safetensors"))
}

fn ensure_checkpoint(dir: &Path) -> anyhow::Result<()> {
    let out = checkpoint_path(dir);
    if out.exists() {
        return Ok(());
    }
    eprintln!(
        "writing {} from {} as one LDM-layout checkpoint (once)",
        out.display(),
        dir.display()
    );
    // Written under another name and renamed, so an interrupted write is
    // never taken for a checkpoint.
    let partial = out.with_extension("partial");
    ldm::write_checkpoint(dir, Family::Sd1, &partial);
    std::fs::rename(&partial, &out)?;
    Ok(())
}

/// A `kB` field of a `/proc` file (`VmHWM:`, `Cached:`…) in MiB; NaN where
/// there is no such file (not Linux) or field.
fn proc_field_mib(file: &str, field: &str) -> f64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn status_mib(field: &str) -> f64 {
    proc_field_mib("/proc/self/status", field)
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Every regular file at or under `path`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn files_under(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        files.extend(files_under(&entry?.path())?);
    }
    Ok(files)
}

/// Drop the files at or under `path` from the OS page cache, so that the next
/// read comes from disk.
///
/// This is how to get a cold read without root (`echo 1 >
/// /proc/sys/vm/drop_caches` needs it and empties the whole machine's cache):
/// `posix_fadvise(POSIX_FADV_DONTNEED)` on a file we can open asks the kernel
/// to drop that file's clean, unmapped pages. Dirty pages are skipped, hence
/// the `fsync` first (the checkpoint may have just been written), and so are
/// pages some process still maps — this process drops its model (and so its
/// mappings) before evicting again. Printed: the machine's `Cached:` before
/// and after, the evidence that it worked.
#[cfg(target_os = "linux")]
fn evict_from_page_cache(path: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let cached = || proc_field_mib("/proc/meminfo", "Cached:");
    let before = cached();
    let mut bytes = 0u64;
    for file in files_under(path)? {
        let f = std::fs::File::open(&file)?;
        f.sync_data()?;
        bytes += f.metadata()?.len();
        // SAFETY: a plain syscall on a descriptor we own for the whole call.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            anyhow::bail!(
                "posix_fadvise({}): {}",
                file.display(),
                std::io::Error::from_raw_os_error(rc)
            );
        }
    }
    eprintln!(
        "  evicted {:.0} MiB of files: page cache (Cached:) {:.0} → {:.0} MiB",
        bytes as f64 / 1048576.0,
        before,
        cached()
    );
    Ok(())
}

/// macOS has no `posix_fadvise` (there `purge`, as root, empties the cache).
#[cfg(not(target_os = "linux"))]
fn evict_from_page_cache(_path: &Path) -> anyhow::Result<()> {
    anyhow::bail!("cold-cache stages need Linux (posix_fadvise)")
}

/// Time `runs` whole-model loads (dropping the first when there are several),
/// evicting `evict` from the page cache before each when given (outside the
/// timing). Also returns VmRSS right after the first load, model alive.
fn time_loads(
    runs: usize,
    evict: Option<&Path>,
    mut load: impl FnMut() -> anyhow::Result<StableDiffusion>,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let mut times = Vec::with_capacity(runs);
    let mut rss_after_first = f64::NAN;
    for run in 0..runs {
        if let Some(path) = evict {
            evict_from_page_cache(path)?;
        }
        let t = Instant::now();
        let model = load()?;
        times.push(t.elapsed().as_secs_f64());
        let rss = status_mib("VmRSS:");
        eprintln!(
            "  run {}: {:.2} s, after load VmRSS {rss:.0} MiB (RssAnon {:.0}, RssFile {:.0})",
            run + 1,
            times[run],
            status_mib("RssAnon:"),
            status_mib("RssFile:")
        );
        if run == 0 {
            rss_after_first = rss;
        }
        drop(model);
    }
    if times.len() > 1 {
        times.remove(0);
    }
    Ok((times, rss_after_first))
}

fn time_runs(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    if times.len() > 1 {
        times.remove(0);
    }
    Ok(times)
}

/// Run one stage in this process and print `name times… | peak` for the parent.
fn run_stage(stage: &str, dir: &Path, runs: usize) -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let load_unet = || -> anyhow::Result<UNet2DConditionModel> {
        let cfg: UNetConfig = serde_json::from_value(unet_config())?;
        let vb = WeightSet::open(&[dir.join(UNET)])?.var_builder(DType::F32, &dev);
        Ok(UNet2DConditionModel::new(vb, &cfg)?)
    };
    // VmRSS after load, for the whole-model load stages only.
    let mut rss_after = None;
    let times = match stage {
        "load" => time_runs(runs, || load_unet().map(drop))?,
        "text" => {
            let cfg: ClipTextConfig = serde_json::from_value(clip_config())?;
            let vb = WeightSet::open(&[dir.join(CLIP)])?.var_builder(DType::F32, &dev);
            let clip = ClipTextModel::new(vb, &cfg, false)?;
            let tok = ClipTokenizer::bundled(latent_studio::models::tokenizer::Pad::EndOfText)?;
            time_runs(runs, || {
                for text in [
                    "a photo of a terrier, looking up, cute, white background",
                    "",
                ] {
                    let ids = tok.chunks(text)?.chunks.remove(0);
                    let ids = Tensor::from_vec(ids, (1, 77), &dev)?;
                    clip.forward(&ids)?;
                }
                Ok(())
            })?
        }
        "unet256" | "unet512" => {
            let unet = load_unet()?;
            let side = if stage == "unet256" { 32 } else { 64 };
            let x = Tensor::randn(0f32, 1., (2, 4, side, side), &dev)?;
            let ctx = Tensor::randn(0f32, 1., (2, 77, 768), &dev)?;
            time_runs(runs, || {
                Ok(unet.forward(&x, 500.0, &ctx, None).map(drop)?)
            })?
        }
        "vae512" => {
            let cfg: VaeConfig = serde_json::from_value(vae_config())?;
            let vb = WeightSet::open(&[dir.join(VAE)])?.var_builder(DType::F32, &dev);
            let vae = AutoencoderKl::new(vb, &cfg)?;
            let z = Tensor::randn(0f32, 1., (1, 4, 64, 64), &dev)?;
            time_runs(runs, || Ok(vae.decode(&z).map(drop)?))?
        }
        "taesd512" => {
            let path = dir.join("taesd.safetensors");
            if !path.exists() {
                write_random_weights(&path, 4, |vb| TinyDecoder::new(vb, &taesd_config()))?;
            }
            let vb = WeightSet::open(&[path])?.var_builder(DType::F32, &dev);
            let taesd = TinyDecoder::new(vb, &taesd_config())?;
            let z = Tensor::randn(0f32, 1., (1, 4, 64, 64), &dev)?;
            time_runs(runs, || Ok(taesd.decode(&z).map(drop)?))?
        }
        "job256" | "job512" => {
            // Steps as a user gets them: the engine's own call chain, timed
            // between progress callbacks. The first step also pays for text
            // encoding and warm-up, so it is dropped like a warm-up run.
            let source = ModelSource::Folder(dir.to_path_buf());
            let model =
                StableDiffusion::load(ModelFiles::resolve(&source, false)?, &dev, &mut |_, _| {})?;
            let side = if stage == "job256" { 256 } else { 512 };
            let params = GenerationParams {
                prompt: "a photo of a terrier".into(),
                steps: runs + 1,
                cfg_scale: 7.5,
                sampler: latent_studio::sampling::schedulers::SamplerKind::Ddim,
                width: Some(side),
                height: Some(side),
                ..Default::default()
            };
            let mut times = Vec::new();
            let mut last = Instant::now();
            generate(&model, &params, None, &mut |_| {
                times.push(last.elapsed().as_secs_f64());
                last = Instant::now();
                true
            })?;
            times.remove(0);
            times
        }
        "pipeline512" => {
            // One run: a job is long, and its peak memory is what we want.
            time_runs(1, || {
                let source = ModelSource::Folder(dir.to_path_buf());
                let files = ModelFiles::resolve(&source, false)?;
                let t = Instant::now();
                let model = StableDiffusion::load(files, &dev, &mut |_, _| {})?;
                eprintln!(
                    "  load of the whole model: {:.2} s",
                    t.elapsed().as_secs_f64()
                );
                let params = GenerationParams {
                    prompt: "a photo of a terrier".into(),
                    steps: 1,
                    width: Some(512),
                    height: Some(512),
                    ..Default::default()
                };
                generate(&model, &params, None, &mut |_| true)?;
                Ok(())
            })?
        }
        "mini-load" | "mini" => {
            let load = || -> anyhow::Result<StableDiffusion> {
                let files = ModelFiles::resolve(&ModelSource::BuiltIn, false)?;
                Ok(StableDiffusion::load(files, &dev, &mut |_, _| {})?)
            };
            if stage == "mini-load" {
                time_runs(runs, || load().map(drop))?
            } else {
                let model = load()?;
                let params = GenerationParams {
                    prompt: "red heart".into(),
                    ..GenerationParams::defaults_for(&ModelSource::BuiltIn)
                };
                time_runs(runs, || {
                    generate(&model, &params, None, &mut |_| true)?;
                    Ok(())
                })?
            }
        }
        "matmul" => {
            let a = Tensor::randn(0f32, 1., (4096, 4096), &dev)?;
            let b = Tensor::randn(0f32, 1., (4096, 4096), &dev)?;
            let times = time_runs(runs.max(3), || {
                a.matmul(&b)?;
                Ok(())
            })?;
            eprintln!(
                "  {:.0} GFLOP/s (median)",
                2.0 * 4096f64.powi(3) / median(times.clone()) / 1e9
            );
            times
        }
        "conv" => {
            let vb = candle_nn::VarBuilder::from_tensors(
                [
                    (
                        "weight".to_string(),
                        Tensor::randn(0f32, 0.02, (320, 320, 3, 3), &dev)?,
                    ),
                    ("bias".to_string(), Tensor::zeros(320, DType::F32, &dev)?),
                ]
                .into_iter()
                .collect(),
                DType::F32,
                &dev,
            );
            let conv = latent_studio::networks::layers::conv2d(vb, 320, 320, 3, 1, 1)?;
            let x = Tensor::randn(0f32, 1., (2, 320, 64, 64), &dev)?;
            let times = time_runs(runs.max(3), || {
                candle_core::Module::forward(&conv, &x)?;
                Ok(())
            })?;
            // 2 · Cout · Cin · 9 · H · W · batch multiply-adds.
            let gflop = 2.0 * 320.0 * 320.0 * 9.0 * 64.0 * 64.0 * 2.0 / 1e9;
            eprintln!(
                "  {:.0} GFLOP/s (median, {gflop:.1} GFLOP)",
                gflop / median(times.clone())
            );
            times
        }
        "attention" => {
            let qkv = || Tensor::randn(0f32, 1., (16, 4096, 40), &dev);
            let (q, k, v) = (qkv()?, qkv()?, qkv()?);
            let scale = 1.0 / (40f64).sqrt();
            time_runs(runs.max(3), || {
                latent_studio::networks::attention::attention(&q, &k, &v, scale)?;
                Ok(())
            })?
        }
        "geglu" => {
            let h = Tensor::randn(0f32, 1., (2, 4096, 2 * 1280 * 4), &dev)?;
            let candle_path = || -> anyhow::Result<Tensor> {
                let chunks = h.chunk(2, candle_core::D::Minus1)?;
                Ok((&chunks[0] * chunks[1].gelu_erf()?)?)
            };
            let old = time_runs(runs.max(3), || candle_path().map(drop))?;
            let times = time_runs(runs.max(3), || {
                latent_studio::networks::geglu::geglu(&h)?;
                Ok(())
            })?;
            eprintln!(
                "  chunk + gelu_erf + mul as candle ops: {:.3} s (median), {:.1}× this op",
                median(old.clone()),
                median(old) / median(times.clone())
            );
            times
        }
        "noise" => {
            let mut rng = TorchCpuRng::new(3);
            time_runs(runs.max(3), || {
                let v = rng.randn(4 * 128 * 128);
                anyhow::ensure!(v.len() == 65_536, "randn drew {} values", v.len());
                Ok(())
            })?
        }
        "preview" => {
            let z = Tensor::randn(0f32, 1., (1, 4, 64, 64), &dev)?;
            // 100 previews per run: one is too quick to time alone.
            time_runs(runs.max(3), || {
                for _ in 0..100 {
                    latent_preview(&z, &LatentSpace::Sd.latent_to_rgb())?;
                }
                Ok(())
            })?
            .into_iter()
            .map(|t| t / 100.0)
            .collect()
        }
        "load-cold" | "load-warm" | "ckpt-cold" | "ckpt-warm" => {
            let (kind, cache) = stage.split_once('-').expect("stage names have a dash");
            let (source, path) = if kind == "load" {
                (ModelSource::Folder(dir.to_path_buf()), dir.to_path_buf())
            } else {
                let path = checkpoint_path(dir);
                (ModelSource::Checkpoint(path.clone()), path)
            };
            let evict = (cache == "cold").then_some(path.as_path());
            let (times, rss) = time_loads(runs, evict, || {
                let files = ModelFiles::resolve(&source, false)?;
                Ok(StableDiffusion::load(files, &dev, &mut |_, _| {})?)
            })?;
            rss_after = Some(rss);
            times
        }
        other => anyhow::bail!("unknown stage {other}"),
    };
    let list: Vec<String> = times.iter().map(|t| format!("{t}")).collect();
    let rss_after = rss_after.map_or(String::new(), |r| format!(" | {r}"));
    println!("RESULT {} | {}{rss_after}", list.join(" "), peak_rss_mib());
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = bench_dir();
    let runs: usize = std::env::var("LATENT_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    if let Ok(stage) = std::env::var("LATENT_BENCH_STAGE") {
        return run_stage(&stage, &dir, runs);
    }
    let selected: Vec<&(&str, &str)> = STAGES
        .iter()
        .filter(|(stage, _)| args.is_empty() || args.iter().any(|a| a == stage))
        .collect();
    // The built-in model's stages and the noise need no SD1.5-shaped weights.
    if selected.iter().any(|(stage, _)| {
        !stage.starts_with("mini")
            && !["noise", "matmul", "conv", "geglu", "attention"].contains(stage)
    }) {
        ensure_weights(&dir)?;
    }
    if selected.iter().any(|(stage, _)| stage.starts_with("ckpt-")) {
        ensure_checkpoint(&dir)?;
    }
    let threads = candle_core::utils::get_num_threads();
    let stored = format!("{:?}", weights_dtype()).to_lowercase();
    println!("SD1.5-shaped random weights stored as {stored}, computed in f32, CPU, {threads} threads, {runs} runs (first is warm-up)\n");
    println!("| stage | what | median | min | max | peak RSS | RSS after load |");
    println!("|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for (stage, what) in selected {
        let out = Command::new(std::env::current_exe()?)
            .env("LATENT_BENCH_STAGE", stage)
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            println!(
                "| {stage} | {what} | failed: {} |",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        };
        // `times | peak RSS [| RSS after load]`
        let mut fields = line.split(" | ");
        let times = fields.next().unwrap_or_default();
        let rss = fields.next().unwrap_or("nan");
        let rss_after = fields.next().and_then(|r| r.trim().parse::<f64>().ok());
        notes.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.starts_with("  "))
                .map(|l| format!("{stage}:{l}")),
        );
        let times: Vec<f64> = times
            .split_whitespace()
            .filter_map(|t| t.parse().ok())
            .collect();
        let fmt = |s: f64| {
            if s < 0.1 {
                format!("{:.2} ms", s * 1000.0)
            } else {
                format!("{s:.2} s")
            }
        };
        let (lo, hi) = times
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        let rss: f64 = rss.trim().parse().unwrap_or(f64::NAN);
        println!(
            "| {stage} | {what} | {} | {} | {} | {:.0} MiB | {} |",
            fmt(median(times.clone())),
            fmt(lo),
            fmt(hi),
            rss,
            rss_after.map_or("–".to_string(), |r| format!("{r:.0} MiB"))
        );
    }
    if !notes.is_empty() {
        println!("\n{}", notes.join("\n"));
    }
    Ok(())
}
