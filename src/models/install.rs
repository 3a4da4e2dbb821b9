//! Hugging Face hub models in the standard hub cache (`~/.cache/huggingface/hub`,
//! or `HF_HOME` / `HF_HUB_CACHE`): which files a pipeline needs, what is
//! already installed, and fetching the rest through [`crate::hub`].
//!
//! Catalog models fetch the catalog's file list; any other repository's list
//! is worked out from the hub's listing (configs, tokenizers, and the best
//! weight variant of each network).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::catalog::{self, CatalogEntry};
use super::files::{weight_file_names, WeightFileName};
use crate::error::{Error, Result};
use crate::hub::{DownloadError, DownloadProgress, DownloadRequest, HubConfig, RepoListing};

/// The branch we download from.
pub const REVISION: &str = "main";

/// The network folders of a diffusers pipeline.
const NETWORKS: [(&str, &str); 4] = [
    ("unet", "diffusion_pytorch_model"),
    ("vae", "diffusion_pytorch_model"),
    ("text_encoder", "model"),
    ("text_encoder_2", "model"),
];

/// Files of an arbitrary diffusers repository worth fetching: the index, the
/// scheduler, each network's config and its weights (fp16 variant first when
/// `prefer_fp16`, single file or shards), the VAE's preview map if it has
/// one, and the tokenizer files. Pickle
/// weights and everything else (safety checker, ONNX, Flax, samples) are skipped.
pub fn pipeline_files(listing: &RepoListing, prefer_fp16: bool) -> Vec<String> {
    let has = |p: &str| listing.file(p).is_some();
    let mut files: Vec<String> = ["model_index.json", "scheduler/scheduler_config.json"]
        .into_iter()
        .filter(|p| has(p))
        .map(String::from)
        .collect();
    for (net, base) in NETWORKS {
        let config = format!("{net}/config.json");
        if !has(&config) {
            continue;
        }
        files.push(config);
        for name in weight_file_names(&[base], prefer_fp16) {
            match name {
                WeightFileName::Single(file) if has(&format!("{net}/{file}")) => {
                    files.push(format!("{net}/{file}"));
                    break;
                }
                WeightFileName::ShardIndex {
                    index,
                    shard_prefix,
                } if has(&format!("{net}/{index}")) => {
                    let prefix = format!("{net}/{shard_prefix}");
                    files.extend(
                        listing
                            .files
                            .iter()
                            .filter(|f| {
                                f.path.starts_with(&prefix) && f.path.ends_with(".safetensors")
                            })
                            .map(|f| f.path.clone()),
                    );
                    files.push(format!("{net}/{index}"));
                    break;
                }
                _ => {}
            }
        }
    }
    // The VAE's own latent→RGB preview map, where a model ships one (ours does).
    let preview_map = format!("vae/{}", super::preview_map::FILE_NAME);
    if has(&preview_map) {
        files.push(preview_map);
    }
    for tok in ["tokenizer", "tokenizer_2"] {
        for f in [
            "vocab.json",
            "merges.txt",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "tokenizer.json",
        ] {
            let path = format!("{tok}/{f}");
            if has(&path) {
                files.push(path);
            }
        }
    }
    files
}

/// Tokenizer files the loader can do without (the pad token then follows
/// the family's convention), so a mirror that lacks them still downloads.
fn is_optional(path: &str) -> bool {
    path.ends_with("/special_tokens_map.json") || path.ends_with("/tokenizer_config.json")
}

/// What to fetch for a catalog entry: its files for this precision, the
/// optional tokenizer files only where the repository has them.
pub fn catalog_request(entry: &CatalogEntry, prefer_fp16: bool) -> DownloadRequest {
    let (optional, files) = entry
        .files_for(prefer_fp16)
        .iter()
        .map(|f| f.to_string())
        .partition(|f| is_optional(f));
    DownloadRequest {
        repo: entry.repo.to_string(),
        revision: REVISION.into(),
        files,
        optional,
    }
}

/// Where a catalog entry is installed in the hub cache (either precision), if
/// every one of its required files is there. Makes no network request.
pub fn installed(entry: &CatalogEntry) -> Option<PathBuf> {
    let hub = HubConfig::from_env();
    [false, true].into_iter().find_map(|fp16| {
        let request = catalog_request(entry, fp16);
        crate::hub::cached_snapshot(&hub, entry.repo, REVISION, &request.files)
    })
}

/// How much of a catalog entry not fully installed is already in the cache
/// (a cancelled or interrupted download), 0..1; `None` when nothing is.
pub fn partly_downloaded(entry: &CatalogEntry, prefer_fp16: bool) -> Option<f32> {
    let have = crate::hub::bytes_in_cache(&HubConfig::from_env(), entry.repo);
    let total = entry.bytes_for(prefer_fp16).max(1);
    (have > 0).then(|| (have as f32 / total as f32).min(0.99))
}

/// The snapshot folder of a hub repository, downloading missing files
/// silently. See [`snapshot_with`].
pub fn snapshot(repo_id: &str, prefer_fp16: bool) -> Result<PathBuf> {
    snapshot_with(repo_id, prefer_fp16, &AtomicBool::new(false), &mut |_| {})
}

/// The snapshot folder of a hub repository, fetching what is missing.
///
/// A catalog model, or any repository whose cached snapshot already resolves
/// as a complete diffusers folder, is used without a network request.
pub fn snapshot_with(
    repo_id: &str,
    prefer_fp16: bool,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<PathBuf> {
    let hub = HubConfig::from_env();
    if let Some(entry) = catalog::for_repo(repo_id) {
        if let Some(dir) = installed(entry) {
            return Ok(dir);
        }
        let request = catalog_request(entry, prefer_fp16);
        return Ok(crate::hub::download(&hub, &request, cancel, progress)?.snapshot);
    }
    let cached = crate::hub::cached_snapshot(&hub, repo_id, REVISION, &["model_index.json".into()]);
    if let Some(dir) = &cached {
        let source = super::source::ModelSource::Hub(repo_id.to_string());
        if super::files::ModelFiles::from_folder(source, dir, prefer_fp16).is_ok() {
            return Ok(dir.clone());
        }
    }
    if hub.offline {
        return Err(DownloadError::Offline {
            repo: repo_id.to_string(),
        }
        .into());
    }
    let (request, listing) = pipeline_request(&hub, repo_id, REVISION, prefer_fp16)?;
    Ok(crate::hub::download_listed(&hub, &request, &listing, cancel, progress)?.snapshot)
}

/// What to fetch of any diffusers repository at `revision` (a branch, tag
/// or commit), worked out from its listing, which is returned too so the
/// download does not list it again. The request keeps `revision` as given,
/// so a branch or tag gets its `refs/` entry and is found again offline.
pub fn pipeline_request(
    hub: &HubConfig,
    repo_id: &str,
    revision: &str,
    prefer_fp16: bool,
) -> Result<(DownloadRequest, RepoListing)> {
    let listing = crate::hub::list_repo(hub, repo_id, revision)?;
    if listing.file("model_index.json").is_none() {
        return Err(Error::MissingFile {
            path: PathBuf::from(format!("{repo_id}/model_index.json")),
            hint: "this repository is not a diffusers pipeline; for a single .safetensors checkpoint, download the file and add it with `latent-studio models add`".into(),
        });
    }
    let request = DownloadRequest {
        repo: repo_id.to_string(),
        revision: revision.to_string(),
        files: pipeline_files(&listing, prefer_fp16),
        optional: Vec::new(),
    };
    Ok((request, listing))
}

/// Hub repositories we look for, in order, when no model is named: the
/// catalog's pipelines, then older names of the same models.
fn known_models() -> impl Iterator<Item = &'static str> {
    catalog::CATALOG
        .iter()
        .filter(|e| e.is_pipeline())
        .map(|e| e.repo)
        .chain([
            "runwayml/stable-diffusion-v1-5",
            "stabilityai/stable-diffusion-2-1",
        ])
}

/// Whether the hub cache has this repository's `model_index.json`.
fn has_model_index(repo: &str) -> bool {
    crate::hub::cache_from_env()
        .model(repo.to_string())
        .get("model_index.json")
        .is_some()
}

/// Whether a hub model is installed: a catalog model once every file it
/// needs is in the cache (a cancelled download is not: it is offered for
/// resuming), any other repository once its `model_index.json` is (its file
/// list is only known from the hub). The one rule the window's model list
/// and the command line's default share. Makes no network request.
fn is_installed(repo: &str) -> bool {
    match catalog::for_repo(repo) {
        Some(entry) => installed(entry).is_some(),
        None => has_model_index(repo),
    }
}

/// The `known_models` that are installed, in that order.
pub fn installed_models() -> impl Iterator<Item = &'static str> {
    known_models().filter(|id| is_installed(id))
}

/// The model to use when none is named: `LATENT_STUDIO_MODEL`, else the first
/// installed (`is_installed`) known repository, else the built-in emoji model.
pub fn default_model() -> Option<super::source::ModelSource> {
    if let Ok(m) = std::env::var("LATENT_STUDIO_MODEL") {
        if !m.trim().is_empty() {
            return Some(super::source::ModelSource::parse(m.trim()));
        }
    }
    installed_models()
        .next()
        .map(|id| super::source::ModelSource::Hub(id.to_string()))
        .or_else(|| super::builtin::folder().map(|_| super::source::ModelSource::BuiltIn))
}
