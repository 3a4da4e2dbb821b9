//! Hugging Face hub repositories in the standard hub cache
//! (`~/.cache/huggingface/hub`, or `HF_HOME` / `HF_HUB_CACHE`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Files of a diffusers pipeline repository, relative to its root.
fn wanted_files(index: &super::files::ModelIndex, prefer_fp16: bool) -> Vec<String> {
    let mut files = vec!["scheduler/scheduler_config.json".to_string()];
    let variant = if prefer_fp16 { ".fp16" } else { "" };
    for (component, weights) in [
        ("unet", "diffusion_pytorch_model"),
        ("vae", "diffusion_pytorch_model"),
        ("text_encoder", "model"),
        ("text_encoder_2", "model"),
    ] {
        if index.has(component) {
            files.push(format!("{component}/config.json"));
            files.push(format!("{component}/{weights}{variant}.safetensors"));
        }
    }
    for tok in ["tokenizer", "tokenizer_2"] {
        if index.has(tok) {
            for f in [
                "vocab.json",
                "merges.txt",
                "tokenizer_config.json",
                "special_tokens_map.json",
            ] {
                files.push(format!("{tok}/{f}"));
            }
        }
    }
    files
}

/// The local snapshot folder of a hub repository, downloading missing files.
///
/// With everything cached, this makes no network request at all.
pub fn snapshot(repo_id: &str, prefer_fp16: bool) -> Result<PathBuf> {
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(repo_id.to_string());
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");

    let index_path = match cached.get("model_index.json") {
        Some(p) => p,
        None if offline => {
            return Err(not_cached(repo_id, &cache));
        }
        None => download(repo_id, "model_index.json")?,
    };
    let root = index_path
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| not_cached(repo_id, &cache))?;
    let text = std::fs::read_to_string(&index_path).map_err(|e| Error::io(&index_path, e))?;
    let index: super::files::ModelIndex =
        serde_json::from_str(&text).map_err(|e| Error::BadConfig {
            path: index_path.clone(),
            reason: e.to_string(),
        })?;
    for file in wanted_files(&index, prefer_fp16) {
        if cached.get(&file).is_some() || offline {
            continue;
        }
        // Optional files (fp16 variants, special_tokens_map) may not exist in
        // the repository; the folder resolver decides later what is required.
        let _ = download(repo_id, &file);
    }
    Ok(root)
}

fn download(repo_id: &str, file: &str) -> Result<PathBuf> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub_error(repo_id, file, e))?;
    api.model(repo_id.to_string())
        .get(file)
        .map_err(|e| hub_error(repo_id, file, e))
}

fn hub_error(repo_id: &str, file: &str, e: hf_hub::api::sync::ApiError) -> Error {
    Error::MissingFile {
        path: PathBuf::from(format!("{repo_id}/{file}")),
        hint: format!(
            "could not download it from the Hugging Face hub ({e}); check the network and the repository id, or point --model at a local diffusers folder"
        ),
    }
}

fn not_cached(repo_id: &str, cache: &hf_hub::Cache) -> Error {
    Error::MissingFile {
        path: cache.path().join(format!("models--{}", repo_id.replace('/', "--"))),
        hint: format!(
            "{repo_id} is not in the hub cache and HF_HUB_OFFLINE is set; download it first or point --model at a local diffusers folder"
        ),
    }
}

/// Hub repositories we look for, in order, when no model is named.
pub const KNOWN_MODELS: &[&str] = &[
    "stabilityai/sd-turbo",
    "stabilityai/sdxl-turbo",
    "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "runwayml/stable-diffusion-v1-5",
    "stabilityai/stable-diffusion-2-1",
    "stabilityai/stable-diffusion-xl-base-1.0",
];

/// The model to use when none is named: `LATENT_STUDIO_MODEL`, else the first
/// known repository already in the hub cache.
pub fn default_model() -> Option<super::files::ModelSource> {
    if let Ok(m) = std::env::var("LATENT_STUDIO_MODEL") {
        if !m.trim().is_empty() {
            return Some(super::files::ModelSource::parse(m.trim()));
        }
    }
    let cache = hf_hub::Cache::from_env();
    KNOWN_MODELS
        .iter()
        .find(|id| {
            cache
                .model(id.to_string())
                .get("model_index.json")
                .is_some()
        })
        .map(|id| super::files::ModelSource::Hub(id.to_string()))
}
