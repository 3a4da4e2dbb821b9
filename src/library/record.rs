//! Our own metadata chunk (`latent-studio`, JSON): everything needed to make
//! the image again, exactly, in Latent Studio. The A1111 `parameters` text
//! beside it is for other tools; this one is lossless.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diffusion::params::GenerationParams;
use crate::models::source::ModelSource;
use crate::sampling::schedulers::SchedulerConfig;

/// PNG keyword of the chunk.
pub const KEYWORD: &str = "latent-studio";

/// The full record of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioRecord {
    /// Which Latent Studio wrote it.
    pub app_version: String,
    /// The model: a folder path or a hub repo id.
    pub model: ModelSource,
    /// Hub models: the snapshot commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_revision: Option<String>,
    /// Single-file checkpoints: the first 10 hex digits of the file's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    /// Prompt, seed, sampler, size, RNG, strength, ...
    pub params: GenerationParams,
    /// Whether a start image was used.
    #[serde(default)]
    pub img2img: bool,
    /// img2img: SHA-256 of the start image's pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_image_sha256: Option<String>,
    /// The scheduler and its options as run.
    pub scheduler: SchedulerConfig,
}

impl StudioRecord {
    /// As the chunk's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }
}

/// SHA-256 (hex) of an image's size and RGB pixels.
pub fn image_sha256(img: &image::RgbImage) -> String {
    let mut h = Sha256::new();
    h.update(img.width().to_le_bytes());
    h.update(img.height().to_le_bytes());
    h.update(img.as_raw());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
