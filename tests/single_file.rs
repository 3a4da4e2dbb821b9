//! Single-file checkpoints (LDM key layout): the same random weights written
//! as a diffusers folder and as one `.safetensors` must load to the same
//! networks and draw the same image; hostile and wrong files are refused
//! with a message, never a panic.

mod common;

use std::path::{Path, PathBuf};

use candle_core::Device;
use common::{ldm::write_checkpoint, write_tiny_model_shaped, Family};
use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::pipeline::generate;
use latent_studio::models::files::{ModelFiles, ModelLayout};
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::{ModelFamily, StableDiffusion};

fn load(source: ModelSource) -> Result<StableDiffusion, latent_studio::Error> {
    let files = ModelFiles::resolve(&source, false)?;
    StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {})
}

/// A diffusers fixture and the same weights as one checkpoint file.
fn both_layouts(family: Family) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, _) = common::tiny_model(Family::Sd1); // isolates the hub cache
    let root = write_tiny_model_shaped(&tmp.path().join("diffusers"), family, true);
    if family == Family::Sd2 {
        // The fixture folder says v-prediction; make the U-Net behave like a
        // v-model in the loader's test, so both layouts agree.
        shift_unet_output(&root, -5.0);
    }
    let file = tmp.path().join("checkpoint.safetensors");
    write_checkpoint(&root, family, &file);
    (tmp, root, file)
}

fn image(model: &StableDiffusion, prompt: &str) -> image::RgbImage {
    let params = GenerationParams {
        prompt: prompt.into(),
        negative_prompt: "blurry".into(),
        steps: 3,
        cfg_scale: 5.0,
        seed: 9,
        width: Some(64),
        height: Some(64),
        ..Default::default()
    };
    generate(model, &params, None, &mut |_| true).unwrap().image
}

fn same_model(family: Family, expected: ModelFamily) {
    let (_tmp, root, file) = both_layouts(family);
    let source = ModelSource::parse(file.to_str().unwrap());
    assert_eq!(source, ModelSource::Checkpoint(file.clone()));
    let files = ModelFiles::resolve(&source, false).unwrap();
    assert!(
        matches!(files.layout, ModelLayout::SingleFile { family: f, .. } if f == expected),
        "{:?}",
        files.layout
    );

    let folder = load(ModelSource::Folder(root)).unwrap();
    let single = load(source).unwrap();
    assert_eq!(single.family, expected);
    assert_eq!(single.text_encoders.len(), folder.text_encoders.len());
    for (a, b) in single.text_encoders.iter().zip(&folder.text_encoders) {
        let (a, b) = (a.model.config(), b.model.config());
        assert_eq!(
            (
                a.hidden_size,
                a.num_hidden_layers,
                a.num_attention_heads,
                a.intermediate_size
            ),
            (
                b.hidden_size,
                b.num_hidden_layers,
                b.num_attention_heads,
                b.intermediate_size
            ),
        );
        assert_eq!(format!("{:?}", a.hidden_act), format!("{:?}", b.hidden_act));
    }
    let (a, b) = (single.unet.config(), folder.unet.config());
    assert_eq!(a.block_out_channels, b.block_out_channels);
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.use_linear_projection, b.use_linear_projection);
    assert_eq!(single.native_size(), folder.native_size());
    assert_eq!(
        single.scheduler_config.prediction_type,
        folder.scheduler_config.prediction_type
    );
    assert_eq!(
        single.force_zeros_for_empty_prompt,
        folder.force_zeros_for_empty_prompt
    );
    assert_eq!(single.preview_map, folder.preview_map);

    let from_file = image(&single, "a lighthouse at dusk");
    let from_folder = image(&folder, "a lighthouse at dusk");
    assert!(
        from_file == from_folder,
        "{family:?}: the checkpoint draws a different image than the same weights in diffusers layout"
    );
    // And the comparison can fail: another prompt changes the picture.
    assert!(image(&single, "a red bicycle") != from_file);
}

#[test]
fn sd1_checkpoint_matches_its_diffusers_folder() {
    same_model(Family::Sd1, ModelFamily::Sd1);
}

#[test]
fn sdxl_checkpoint_matches_its_diffusers_folder() {
    same_model(Family::Sdxl, ModelFamily::Sdxl);
}

#[test]
fn sd2_checkpoint_drops_the_unused_last_text_layer() {
    same_model(Family::Sd2, ModelFamily::Sd2);
}

/// Add `by` to the U-Net's output bias (what A1111's v-prediction test reads).
fn shift_unet_output(root: &Path, by: f64) {
    let path = root.join("unet/diffusion_pytorch_model.safetensors");
    let mut all = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let bias = all.remove("conv_out.bias").unwrap();
    all.insert("conv_out.bias".into(), (bias + by).unwrap());
    candle_core::safetensors::save(&all, &path).unwrap();
}

#[test]
fn sd2_checkpoints_are_told_apart_by_running_the_unet() {
    // v-prediction: 768-v, as the folder's scheduler says.
    let (_tmp, _root, file) = both_layouts(Family::Sd2);
    let v = load(ModelSource::Checkpoint(file)).unwrap();
    assert_eq!(
        v.scheduler_config.prediction_type,
        latent_studio::sampling::schedulers::PredictionType::VPrediction
    );
    assert_eq!(v.native_size(), 768);

    // The same network with its output shifted up predicts noise: 512 base.
    let (tmp, _) = common::tiny_model(Family::Sd1);
    let root = write_tiny_model_shaped(&tmp.path().join("base"), Family::Sd2, true);
    shift_unet_output(&root, 5.0);
    let file = tmp.path().join("base.safetensors");
    write_checkpoint(&root, Family::Sd2, &file);
    let base = load(ModelSource::Checkpoint(file)).unwrap();
    assert_eq!(
        base.scheduler_config.prediction_type,
        latent_studio::sampling::schedulers::PredictionType::Epsilon
    );
    assert_eq!(base.native_size(), 512);
}

fn load_error(path: &Path) -> String {
    let source = ModelSource::parse(path.to_str().unwrap());
    match load(source) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Write a safetensors file from a raw header and data section.
fn raw_safetensors(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn hostile_and_wrong_files_are_refused_with_a_reason() {
    let (tmp, _) = common::tiny_model(Family::Sd1);
    let dir = tmp.path();

    let ckpt = dir.join("model.ckpt");
    std::fs::write(&ckpt, b"PK\x03\x04 pickle").unwrap();
    let msg = load_error(&ckpt);
    assert!(
        msg.contains("arbitrary code") && msg.contains(".safetensors"),
        "{msg}"
    );

    let overlap = dir.join("overlap.safetensors");
    raw_safetensors(
        &overlap,
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        &[0; 12],
    );
    assert!(load_error(&overlap).contains("overlap"));

    let huge = dir.join("huge-header.safetensors");
    let mut bytes = (4u64 << 30).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&huge, bytes).unwrap();
    assert!(load_error(&huge).contains("header claims"));

    let dtype = dir.join("dtype.safetensors");
    raw_safetensors(
        &dtype,
        r#"{"a":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    assert!(load_error(&dtype).contains("unsupported dtype"));

    let short = dir.join("short.safetensors");
    raw_safetensors(
        &short,
        r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
        &[0; 8],
    );
    assert!(load_error(&short).contains("outside the file"));

    let lora = dir.join("lora.safetensors");
    raw_safetensors(
        &lora,
        r#"{"lora_unet_down_blocks_0_attentions_0_proj_in.alpha":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    assert!(load_error(&lora).contains("LoRA"));

    let vae_only = dir.join("vae.safetensors");
    raw_safetensors(
        &vae_only,
        r#"{"encoder.conv_in.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    assert!(load_error(&vae_only).contains("not a full Stable Diffusion checkpoint"));

    // A valid type we never compute with (a stray BOOL mask) is fine until
    // that tensor is asked for.
    let mixed = dir.join("mixed.safetensors");
    raw_safetensors(
        &mixed,
        r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"mask":{"dtype":"BOOL","shape":[4],"data_offsets":[8,12]}}"#,
        &[0; 12],
    );
    let file = latent_studio::models::weights::SafeTensorsFile::open(&mixed).unwrap();
    let cpu = Device::Cpu;
    assert!(file.load("w", candle_core::DType::F32, &cpu).is_ok());
    let err = file
        .load("mask", candle_core::DType::F32, &cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stored as BOOL"), "{err}");

    let missing = dir.join("nowhere.safetensors");
    assert!(load_error(&missing).contains("does not exist"));
}

#[test]
fn a_checkpoint_without_its_vae_says_so() {
    let (_tmp, _root, file) = both_layouts(Family::Sd1);
    let stripped = file.with_file_name("no-vae.safetensors");
    let all = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let kept: std::collections::HashMap<_, _> = all
        .into_iter()
        .filter(|(k, _)| !k.starts_with("first_stage_model."))
        .collect();
    candle_core::safetensors::save(&kept, &stripped).unwrap();
    let msg = load_error(&stripped);
    assert!(msg.contains("no VAE"), "{msg}");
}

#[test]
fn the_models_folder_lists_checkpoints_and_folders_only() {
    let (_tmp, root, file) = both_layouts(Family::Sd1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&file, dir.path().join("b-model.safetensors")).unwrap();
    let folder = dir.path().join("a-diffusers");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(
        root.join("model_index.json"),
        folder.join("model_index.json"),
    )
    .unwrap();
    raw_safetensors(
        &dir.path().join("c-lora.safetensors"),
        r#"{"lora_unet_x.alpha":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
    std::fs::write(dir.path().join("d-old.ckpt"), "pickle").unwrap();

    let found = latent_studio::models::files::models_in_folder(dir.path());
    assert_eq!(
        found,
        [
            ModelSource::Folder(folder),
            ModelSource::Checkpoint(dir.path().join("b-model.safetensors")),
        ]
    );
    assert!(latent_studio::models::files::models_in_folder(&dir.path().join("missing")).is_empty());
}
