//! Looking at the image folders: which PNGs are there, their thumbnails,
//! and the leftovers of saves that were killed midway.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Longest side of stored thumbnails, in pixels.
pub const THUMB_SIDE: u32 = 192;
/// Temporary files of interrupted saves older than this are removed.
const STALE_TEMP: Duration = Duration::from_secs(600);

/// Visible `.png` files directly in `dir`.
pub fn png_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_file()
        })
        .collect()
}

/// A small PNG of the image, or `None` when it does not decode.
pub fn thumbnail_png(path: &Path) -> Option<Vec<u8>> {
    let img = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(1 << 30);
    let mut img = img;
    img.limits(limits);
    let rgb = img.decode().ok()?.to_rgb8();
    let thumb = crate::diffusion::image_io::thumbnail(&rgb, THUMB_SIDE);
    let mut out = Vec::new();
    thumb
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .ok()?;
    Some(out)
}

/// Remove temporary files left in `dirs` by saves that were killed midway.
pub fn remove_stale_temporaries(dirs: &[&Path]) {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TEMP);
            if crate::storage::atomic::is_temporary_name(&name) && old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
