//! Where and how to reach the hub, read from the environment the way
//! huggingface_hub reads it.

use std::path::PathBuf;

/// Where and how to reach the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// A user access token, sent (as `Authorization: Bearer`) to the hub host only.
    pub token: Option<String>,
    /// The hub cache the files go into.
    pub cache: hf_hub::Cache,
    /// Make no network request at all; only use what is cached.
    pub offline: bool,
    /// How often a dropped connection or overloaded server is retried per
    /// request before giving up (each retry resumes where the last stopped).
    pub retries: u32,
}

impl HubConfig {
    /// The configuration huggingface_hub would use: `HF_ENDPOINT` (default
    /// `https://huggingface.co`), the token from `HF_TOKEN` else the token
    /// file (`HF_TOKEN_PATH`, else `$HF_HOME/token`), the cache from
    /// [`cache_from_env`], and `HF_HUB_OFFLINE=1|true|yes|on`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let endpoint = var("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://huggingface.co".to_string());
        let token = var("HF_TOKEN").or_else(|| {
            let path = var("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home().map(|home| home.join("token")))?;
            let text = std::fs::read_to_string(path).ok()?;
            Some(text.trim().to_string()).filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            ["1", "true", "yes", "on"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        });
        HubConfig {
            endpoint,
            token,
            cache: cache_from_env(),
            offline,
            retries: 5,
        }
    }
}

/// The hub cache huggingface_hub uses: `HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `~/.cache/huggingface/hub`.
pub fn cache_from_env() -> hf_hub::Cache {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|d| !d.is_empty()) {
        return hf_hub::Cache::new(dir.into());
    }
    match hf_home() {
        Some(home) => hf_hub::Cache::new(home.join("hub")),
        None => hf_hub::Cache::new(std::env::temp_dir().join("huggingface").join("hub")),
    }
}

/// `HF_HOME`, else `~/.cache/huggingface` (what hf_hub's `Cache::from_env` uses).
fn hf_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HF_HOME").filter(|h| !h.is_empty()) {
        return Some(home.into());
    }
    let base = directories::BaseDirs::new()?;
    Some(base.home_dir().join(".cache").join("huggingface"))
}
