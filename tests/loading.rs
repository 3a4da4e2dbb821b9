//! Broken model folders give clear errors, never panics.

mod common;

use std::path::Path;

use candle_core::Device;
use common::{tiny_model, Family};
use latent_studio::models::files::ModelFiles;
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::StableDiffusion;
use latent_studio::Error;

fn try_load(root: &Path) -> Result<StableDiffusion, Error> {
    let files = ModelFiles::resolve(&ModelSource::Folder(root.to_path_buf()), false)?;
    StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {})
}

fn load_error(root: &Path) -> String {
    match try_load(root) {
        Ok(_) => panic!("loading should have failed"),
        Err(e) => e.to_string(),
    }
}

const UNET: &str = "unet/diffusion_pytorch_model.safetensors";

#[test]
fn a_good_fixture_loads() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    assert!(try_load(&root).is_ok());
}

#[test]
fn missing_folder_says_what_to_point_at() {
    let err = load_error(Path::new("/definitely/not/here"));
    assert!(err.contains("diffusers model folder"), "{err}");
}

#[test]
fn folder_without_model_index() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("model_index.json"), "{err}");
}

#[test]
fn missing_weights_file() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    std::fs::remove_file(root.join(UNET)).unwrap();
    let err = load_error(&root);
    assert!(err.contains("unet") && err.contains("safetensors"), "{err}");
}

#[test]
fn pickle_only_weights_are_refused() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    std::fs::rename(
        root.join(UNET),
        root.join("unet/diffusion_pytorch_model.bin"),
    )
    .unwrap();
    let err = load_error(&root);
    assert!(err.contains("pickle"), "{err}");
}

#[test]
fn truncated_weights_file() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let path = root.join(UNET);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    let err = load_error(&root);
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn corrupt_header() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let path = root.join(UNET);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..16].copy_from_slice(b"garbage!");
    std::fs::write(&path, bytes).unwrap();
    let err = load_error(&root);
    assert!(err.contains("bad weights file"), "{err}");
}

#[test]
fn absurd_header_length() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let path = root.join(UNET);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0..8].copy_from_slice(&(4u64 << 30).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = load_error(&root);
    assert!(err.contains("header claims"), "{err}");
}

#[test]
fn weights_that_disagree_with_config() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let cfg_path = root.join("unet/config.json");
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        text.replace("[\n    32,\n    64\n  ]", "[\n    32,\n    96\n  ]"),
    )
    .unwrap();
    let err = load_error(&root);
    assert!(err.contains("shape"), "{err}");
}

#[test]
fn malformed_config() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    std::fs::write(root.join("vae/config.json"), "{ not json").unwrap();
    let err = load_error(&root);
    assert!(err.contains("bad config") && err.contains("vae"), "{err}");
}

#[test]
fn missing_tokenizer() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    std::fs::remove_dir_all(root.join("tokenizer")).unwrap();
    let err = load_error(&root);
    assert!(err.contains("tokenizer"), "{err}");
}

#[test]
fn sdxl_without_second_encoder() {
    let (_tmp, root) = tiny_model(Family::Sdxl);
    std::fs::remove_dir_all(root.join("text_encoder_2")).unwrap();
    let err = load_error(&root);
    assert!(err.contains("text_encoder_2"), "{err}");
}
