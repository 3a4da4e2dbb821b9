//! Saving a finished image as PNG, crash-safely, under a descriptive name.

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::diffusion::params::GenerationParams;
use crate::storage::atomic::create_new_file;
use crate::storage::naming::image_stem;
use crate::storage::StorageError;

/// Text chunks to embed: (keyword, text), e.g. `("parameters", infotext)`.
pub type PngText = [(String, String)];

/// Save `image` into `dir` as `<date>_<prompt slug>_<seed>.png` with `text`
/// embedded; never overwrites, never leaves a partial file. Returns the path.
pub fn save_png(
    dir: &Path,
    image: &RgbImage,
    params: &GenerationParams,
    text: &PngText,
) -> Result<PathBuf, StorageError> {
    let stem = image_stem(&params.prompt, params.seed, chrono::Local::now());
    save_png_as(dir, &stem, image, text)
}

/// Save `image` as `dir/<stem>.png` (or `<stem>-2.png`, ...).
pub fn save_png_as(
    dir: &Path,
    stem: &str,
    image: &RgbImage,
    text: &PngText,
) -> Result<PathBuf, StorageError> {
    let encoded = encode_png(image, text)?;
    create_new_file(dir, stem, "png", |w| w.write_all(&encoded))
}

/// Encode `image` as PNG with text chunks: tEXt when the text is Latin-1
/// (what Pillow, and so A1111, writes), iTXt (UTF-8) otherwise.
pub fn encode_png(image: &RgbImage, text: &PngText) -> Result<Vec<u8>, StorageError> {
    let encode_err = |e: png::EncodingError| StorageError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width(), image.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    for (keyword, value) in text {
        if value.chars().all(|c| (c as u32) < 256) {
            encoder.add_text_chunk(keyword.clone(), value.clone())
        } else {
            encoder.add_itxt_chunk(keyword.clone(), value.clone())
        }
        .map_err(encode_err)?;
    }
    let mut writer = encoder.write_header().map_err(encode_err)?;
    writer
        .write_image_data(image.as_raw())
        .map_err(encode_err)?;
    writer.finish().map_err(encode_err)?;
    Ok(out)
}

/// Save to exactly `path` (a "Save as…" target the user chose, which may
/// replace an existing file, as save dialogs confirm), crash-safely.
pub fn save_png_to(path: &Path, image: &RgbImage, text: &PngText) -> Result<(), StorageError> {
    let encoded = encode_png(image, text)?;
    crate::storage::atomic::replace_file(path, |w| w.write_all(&encoded))
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
        let text = vec![(
            "parameters".to_string(),
            "a fox / in snow\nSteps: 20, Seed: 5, Größe: 9".to_string(),
        )];
        let path = save_png(dir.path(), &img, &params, &text).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("_a-fox-in-snow_5.png"), "{name}");
        assert_eq!(image::open(&path).unwrap().to_rgb8(), img);
        // The text chunk is there, byte for byte (tEXt: the text is Latin-1).
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let chunks = &reader.info().uncompressed_latin1_text;
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            (chunks[0].keyword.as_str(), chunks[0].text.as_str()),
            ("parameters", text[0].1.as_str())
        );

        let chosen = dir.path().join("mine.png");
        std::fs::write(&chosen, b"old").unwrap();
        save_png_to(&chosen, &img, &[]).unwrap();
        assert_eq!(image::open(&chosen).unwrap().to_rgb8(), img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
