//! A VAE's own linear latent→RGB preview map, `vae/latent_preview.json`.
//!
//! SD's published preview matrices only fit SD's VAEs. A model with a VAE of
//! its own (the built-in emoji model) ships the map fitted on its training
//! latents, so every step's preview shows true colours. diffusers ignores the
//! file, so the folder stays a plain diffusers pipeline.

use std::path::Path;

use serde::Deserialize;

use crate::error::Result;
use crate::models::config_file::read_config;
use crate::networks::vae::LatentToRgb;

/// The file name, beside the VAE's `config.json`.
pub const FILE_NAME: &str = "latent_preview.json";

#[derive(Deserialize)]
struct MapFile {
    /// Row `c`: latent channel `c`'s contribution to (r, g, b).
    latent_rgb: Vec<[f32; 3]>,
    #[serde(default)]
    bias: [f32; 3],
}

/// The map in the VAE folder `vae_dir`, if it ships one.
pub fn read(vae_dir: &Path) -> Result<Option<LatentToRgb>> {
    let path = vae_dir.join(FILE_NAME);
    if !path.is_file() {
        return Ok(None);
    }
    let file: MapFile = read_config(&path, "the VAE's preview map")?;
    let matrix: [[f32; 3]; 4] = file.latent_rgb.try_into().map_err(|rows: Vec<_>| {
        crate::Error::bad_config(
            &path,
            format!(
                "latent_rgb needs 4 rows (one per latent channel), found {}",
                rows.len()
            ),
        )
    })?;
    if matrix
        .iter()
        .flatten()
        .chain(&file.bias)
        .any(|v| !v.is_finite())
    {
        return Err(crate::Error::bad_config(
            &path,
            "the preview map holds a value that is not a number",
        ));
    }
    Ok(Some(LatentToRgb {
        matrix,
        bias: file.bias,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_map_and_refuses_a_wrong_shape() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let file = dir.path().join(FILE_NAME);
        std::fs::write(
            &file,
            r#"{"latent_rgb": [[1,0,0],[0,1,0],[0,0,1],[0.5,0.5,0.5]], "bias": [0.1, 0.2, 0.3]}"#,
        )
        .unwrap();
        let map = read(dir.path()).unwrap().unwrap();
        assert_eq!(map.matrix[3], [0.5, 0.5, 0.5]);
        assert_eq!(map.bias, [0.1, 0.2, 0.3]);
        std::fs::write(&file, r#"{"latent_rgb": [[1,0,0]]}"#).unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("4 rows"));
    }
}
