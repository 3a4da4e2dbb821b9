//! Test fixtures: tiny random-weight Stable Diffusion pipelines written in the
//! diffusers folder layout (model_index.json, config.json + .safetensors for
//! every component, tokenizer files), loaded back through the real loader.
//!
//! Weights are random (written for exactly the tensors our modules ask for),
//! so images are meaningless but every code path and file format is real.

#![allow(dead_code)]

pub mod hub_server;
pub mod ldm;
pub mod studio;

use std::path::{Path, PathBuf};

use candle_nn::VarBuilder;
use serde_json::{json, Value};

use latent_studio::networks::clip::{ClipTextConfig, ClipTextModel};
use latent_studio::networks::unet::{UNet2DConditionModel, UNetConfig};
use latent_studio::networks::vae::{AutoencoderKl, VaeConfig};
use latent_studio::testing::random_weights::write_random_weights;

/// Which real pipeline layout the fixture imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// One CLIP-L style encoder (pads with EOS), conv projections, epsilon.
    Sd1,
    /// OpenCLIP style encoder (pads with "!"), linear projections, v-prediction.
    Sd2,
    /// Two encoders, penultimate states, pooled + time-id conditioning.
    Sdxl,
}

/// Pixels of a reference image stored as a JSON array of bytes (as
/// scripts/reference/*.py and scripts/mini_model/reference.py write them).
pub fn reference_pixels(case: &Value) -> Vec<u8> {
    case["pixels"]
        .as_array()
        .expect("a pixels array")
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect()
}

/// The generation parameters a reference case was made with (prompt,
/// negative, steps, CFG, seed, size; 64 px when the case names none).
pub fn reference_params(
    case: &Value,
    sampler: latent_studio::sampling::schedulers::SamplerKind,
) -> latent_studio::diffusion::params::GenerationParams {
    latent_studio::diffusion::params::GenerationParams {
        prompt: case["prompt"].as_str().unwrap().into(),
        negative_prompt: case["negative_prompt"].as_str().unwrap().into(),
        steps: case["steps"].as_u64().unwrap() as usize,
        cfg_scale: case["cfg"].as_f64().unwrap(),
        seed: case["seed"].as_u64().unwrap(),
        sampler,
        width: Some(case["width"].as_u64().unwrap_or(64) as u32),
        height: Some(case["height"].as_u64().unwrap_or(64) as u32),
        ..Default::default()
    }
}

/// Largest and mean absolute difference between two byte images.
pub fn pixel_diff(ours: &[u8], expected: &[u8]) -> (i32, f64) {
    assert_eq!(ours.len(), expected.len(), "different image sizes");
    let diffs: Vec<i32> = ours
        .iter()
        .zip(expected)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .collect();
    let max = diffs.iter().copied().max().unwrap_or(0);
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len().max(1) as f64;
    (max, mean)
}

/// Share of an image's non-white pixels that are a saturated red (hue within
/// 20° of red, saturation above 0.4): how the built-in model's tests tell a
/// red heart from anything else.
pub fn red_share(img: &image::RgbImage) -> f64 {
    let (mut fg, mut red) = (0usize, 0usize);
    for px in img.pixels() {
        let [r, g, b] = px.0.map(|v| v as f64 / 255.0);
        let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
        if mn >= 0.9 {
            continue;
        }
        fg += 1;
        let sat = (mx - mn) / mx.max(1e-6);
        let hue = (3f64.sqrt() * (g - b)).atan2(2.0 * r - g - b).to_degrees();
        if sat > 0.4 && hue.abs() < 20.0 {
            red += 1;
        }
    }
    red as f64 / fg.max(1) as f64
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn save_random<T>(
    dir: &Path,
    file: &str,
    config: &Value,
    build: impl FnOnce(VarBuilder<'static>) -> T,
) {
    write_json(&dir.join("config.json"), config);
    write_random_weights(&dir.join(file), 7, |vb| candle_core::Result::Ok(build(vb))).unwrap();
}

fn clip_config(hidden_act: &str, projection: bool) -> Value {
    let mut c = json!({
        "architectures": [if projection { "CLIPTextModelWithProjection" } else { "CLIPTextModel" }],
        "vocab_size": 49408,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "hidden_act": hidden_act,
        "layer_norm_eps": 1e-5,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
    });
    if projection {
        c["projection_dim"] = json!(32);
    }
    c
}

fn write_clip(dir: &Path, config: &Value, projection: bool) {
    let cfg: ClipTextConfig = serde_json::from_value(config.clone()).unwrap();
    save_random(dir, "model.safetensors", config, |vb| {
        ClipTextModel::new(vb, &cfg, projection).unwrap()
    });
}

fn write_tokenizer(dir: &Path, pad: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets");
    for f in ["vocab.json", "merges.txt"] {
        std::fs::copy(assets.join(f), dir.join(f)).unwrap();
    }
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "pad_token": pad,
            "model_max_length": 77,
            "tokenizer_class": "CLIPTokenizer",
        }),
    );
}

fn unet_config(family: Family) -> Value {
    let mut c = json!({
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "norm_num_groups": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "cross_attention_dim": 32,
        "attention_head_dim": 2,
    });
    match family {
        Family::Sd1 => {}
        Family::Sd2 => {
            // Like SD 2.x 768-v, whose native size is larger than SD 1.x's.
            c["sample_size"] = json!(16);
            c["use_linear_projection"] = json!(true);
            c["attention_head_dim"] = json!([2, 4]);
        }
        Family::Sdxl => {
            c["use_linear_projection"] = json!(true);
            c["cross_attention_dim"] = json!(64);
            c["transformer_layers_per_block"] = json!([2, 1]);
            c["addition_embed_type"] = json!("text_time");
            c["addition_time_embed_dim"] = json!(8);
            c["projection_class_embeddings_input_dim"] = json!(32 + 6 * 8);
        }
    }
    c
}

fn vae_config(family: Family) -> Value {
    json!({
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": [32, 32, 32, 32],
        "down_block_types": vec!["DownEncoderBlock2D"; 4],
        "up_block_types": vec!["UpDecoderBlock2D"; 4],
        "layers_per_block": 1,
        "norm_num_groups": 32,
        "sample_size": 64,
        "scaling_factor": if family == Family::Sdxl { 0.13025 } else { 0.18215 },
        "force_upcast": family == Family::Sdxl,
    })
}

fn scheduler_config(family: Family) -> Value {
    json!({
        "_class_name": "EulerDiscreteScheduler",
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": if family == Family::Sd2 { "v_prediction" } else { "epsilon" },
        "timestep_spacing": "leading",
        "steps_offset": 1,
        "set_alpha_to_one": false,
        "clip_sample": false,
    })
}

/// Write a tiny pipeline of `family` into `root` and return `root`.
pub fn write_tiny_model(root: &Path, family: Family) -> PathBuf {
    write_tiny_model_shaped(root, family, false)
}

/// Change a tiny pipeline's configs so a single-file checkpoint of it can be
/// read back: what tensor shapes cannot tell (head counts) follows the
/// family's rules (SD 1.x: 8 heads; SD 2.x/SDXL U-Net and every CLIP: 64-wide
/// heads), so the widths grow to multiples of 64.
fn checkpoint_shaped(family: Family, unet: &mut Value, clip: &mut Value, clip2: &mut Value) {
    for c in [&mut *clip, &mut *clip2] {
        c["hidden_size"] = json!(64);
        c["num_attention_heads"] = json!(1);
    }
    unet["sample_size"] = json!(match family {
        Family::Sd1 => 64,
        Family::Sd2 => 96,
        Family::Sdxl => 128,
    });
    match family {
        Family::Sd1 => {
            unet["attention_head_dim"] = json!(8);
            unet["cross_attention_dim"] = json!(64);
        }
        Family::Sd2 => {
            unet["block_out_channels"] = json!([64, 128]);
            unet["attention_head_dim"] = json!([1, 2]);
            unet["cross_attention_dim"] = json!(64);
        }
        Family::Sdxl => {
            unet["block_out_channels"] = json!([64, 128]);
            unet["attention_head_dim"] = json!([1, 2]);
            unet["cross_attention_dim"] = json!(128);
            unet["projection_class_embeddings_input_dim"] = json!(32 + 6 * 8);
        }
    }
}

/// [`write_tiny_model`], optionally with configs a single-file checkpoint can
/// express (see `checkpoint_shaped`).
pub fn write_tiny_model_shaped(root: &Path, family: Family, for_checkpoint: bool) -> PathBuf {
    let sdxl = family == Family::Sdxl;
    let mut index = json!({
        "_class_name": if sdxl { "StableDiffusionXLPipeline" } else { "StableDiffusionPipeline" },
        "_diffusers_version": "0.30.0",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    });
    if sdxl {
        index["text_encoder_2"] = json!(["transformers", "CLIPTextModelWithProjection"]);
        index["tokenizer_2"] = json!(["transformers", "CLIPTokenizer"]);
        index["force_zeros_for_empty_prompt"] = json!(true);
    }
    write_json(&root.join("model_index.json"), &index);

    let mut unet = unet_config(family);
    let (act, pad) = match family {
        Family::Sd1 => ("quick_gelu", "<|endoftext|>"),
        Family::Sd2 => ("gelu", "!"),
        Family::Sdxl => ("quick_gelu", "<|endoftext|>"),
    };
    let mut clip = clip_config(act, false);
    let mut clip2 = clip_config("gelu", true);
    if for_checkpoint {
        checkpoint_shaped(family, &mut unet, &mut clip, &mut clip2);
    }
    let ucfg: UNetConfig = serde_json::from_value(unet.clone()).unwrap();
    save_random(
        &root.join("unet"),
        "diffusion_pytorch_model.safetensors",
        &unet,
        |vb| UNet2DConditionModel::new(vb, &ucfg).unwrap(),
    );
    let vae = vae_config(family);
    let vcfg: VaeConfig = serde_json::from_value(vae.clone()).unwrap();
    save_random(
        &root.join("vae"),
        "diffusion_pytorch_model.safetensors",
        &vae,
        |vb| AutoencoderKl::new(vb, &vcfg).unwrap(),
    );
    write_clip(&root.join("text_encoder"), &clip, false);
    write_tokenizer(&root.join("tokenizer"), pad);
    if sdxl {
        write_clip(&root.join("text_encoder_2"), &clip2, true);
        write_tokenizer(&root.join("tokenizer_2"), "!");
    }
    write_json(
        &root.join("scheduler").join("scheduler_config.json"),
        &scheduler_config(family),
    );
    root.to_path_buf()
}

/// Keep tests hermetic: no hub cache of the machine (it might hold TAESD or
/// models), no preview-decoder override, never a download.
fn isolate_from_the_machine() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let empty = std::env::temp_dir().join("latent-studio-tests-empty-hub");
        std::env::set_var("HF_HOME", &empty);
        std::env::set_var("HF_HUB_CACHE", empty.join("hub"));
        std::env::set_var("HF_HUB_OFFLINE", "1");
        // Checkpoint hashes and the like go to a cache of the tests' own.
        std::env::set_var("XDG_CACHE_HOME", empty.join("xdg-cache"));
        std::env::remove_var("LATENT_STUDIO_TAESD");
        std::env::remove_var("LATENT_STUDIO_MODEL");
    });
}

/// The committed tiny TAESD (tests/data/taesd, from scripts/reference/taesd.py).
pub fn tiny_taesd() -> latent_studio::models::files::ComponentFiles {
    let dir = latent_studio::testing::data_dir("taesd");
    latent_studio::models::files::ComponentFiles {
        config: dir.join("config.json"),
        weights: vec![dir.join("diffusion_pytorch_model.safetensors")],
    }
}

/// A temp dir holding a tiny model; keep the `TempDir` alive while using it.
pub fn tiny_model(family: Family) -> (tempfile::TempDir, PathBuf) {
    isolate_from_the_machine();
    let dir = tempfile::tempdir().unwrap();
    let root = write_tiny_model(&dir.path().join("tiny-model"), family);
    (dir, root)
}
