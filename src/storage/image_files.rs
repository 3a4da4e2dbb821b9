//! Saving a finished image as PNG, crash-safely, under a descriptive name.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::atomic::create_new_file;
use super::naming::image_stem;
use super::StorageError;
use crate::diffusion::params::GenerationParams;

/// Save `image` into `dir` as `<date>_<prompt slug>_<seed>.png`; never
/// overwrites, never leaves a partial file. Returns the path written.
pub fn save_png(
    dir: &Path,
    image: &RgbImage,
    params: &GenerationParams,
) -> Result<PathBuf, StorageError> {
    let stem = image_stem(&params.prompt, params.seed, chrono::Local::now());
    save_png_as(dir, &stem, image)
}

/// Save `image` as `dir/<stem>.png` (or `<stem>-2.png`, ...).
pub fn save_png_as(dir: &Path, stem: &str, image: &RgbImage) -> Result<PathBuf, StorageError> {
    let mut encoded = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .map_err(|e| StorageError::Encode(e.to_string()))?;
    create_new_file(dir, stem, "png", |w| w.write_all(&encoded))
}

/// Save to exactly `path` (a "Save as…" target the user chose, which may
/// replace an existing file, as save dialogs confirm). The new content is
/// written beside it first and renamed over it, so a crash never leaves a
/// truncated file.
pub fn save_png_to(path: &Path, image: &RgbImage) -> Result<(), StorageError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = format!(
        ".{}.saving",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let temp = save_png_as(dir, &stem, image)?;
    std::fs::rename(&temp, path).map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        StorageError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_png_reads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 7]));
        let params = GenerationParams {
            prompt: "a fox / in snow".into(),
            seed: 5,
            ..Default::default()
        };
        let path = save_png(dir.path(), &img, &params).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("_a-fox-in-snow_5.png"), "{name}");
        assert_eq!(image::open(&path).unwrap().to_rgb8(), img);

        let chosen = dir.path().join("mine.png");
        std::fs::write(&chosen, b"old").unwrap();
        save_png_to(&chosen, &img).unwrap();
        assert_eq!(image::open(&chosen).unwrap().to_rgb8(), img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
