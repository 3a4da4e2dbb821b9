//! Converting between images and the tensors the VAE works on, and preparing
//! a start image for img2img.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::{imageops::FilterType, RgbImage};

use crate::error::{Error, Result};

/// `[1, 3, H, W]` in [-1, 1] (the VAE decoder's output) to an 8-bit RGB image.
pub fn tensor_to_rgb(t: &Tensor) -> Result<RgbImage> {
    let (_, c, h, w) = t.dims4()?;
    if c != 3 {
        return Err(Error::InvalidParams(format!(
            "expected 3 channels, got {c}"
        )));
    }
    let data: Vec<f32> = t
        .get(0)?
        .to_dtype(DType::F32)?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_vec1()?;
    let bytes = data
        .into_iter()
        .map(|v| (((v + 1.0) * 127.5).round()).clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| Error::InvalidParams("image buffer has the wrong size".into()))
}

/// An 8-bit RGB image to `[1, 3, H, W]` in [-1, 1].
pub fn rgb_to_tensor(img: &RgbImage, device: &Device) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    let data: Vec<f32> = img
        .as_raw()
        .iter()
        .map(|&v| v as f32 / 127.5 - 1.0)
        .collect();
    Ok(Tensor::from_vec(data, (h as usize, w as usize, 3), device)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()?)
}

/// Read an image file (PNG, JPEG, WebP, ...) as RGB, with a message that
/// names the file when it cannot be read.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: format!("cannot open: {e}"),
        })?
        .with_guessed_format()
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
    let img = reader.decode().map_err(|e| Error::Image {
        path: path.to_path_buf(),
        reason: format!("not a readable image ({e})"),
    })?;
    Ok(img.to_rgb8())
}

/// Scale `img` to cover `width × height` and crop the centre, so the start
/// image fills the canvas without distortion (what A1111 calls "crop and resize").
pub fn fit_to(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    if img.dimensions() == (width, height) {
        return img.clone();
    }
    let dynamic = image::DynamicImage::ImageRgb8(img.clone());
    dynamic
        .resize_to_fill(width, height, FilterType::Lanczos3)
        .to_rgb8()
}

/// The output size for a start image when the user gave none: keep its aspect
/// ratio, make the longer side the model's native size, round to multiples of
/// 8 (never below 64, the smallest size we generate).
pub fn size_for_aspect(img_w: u32, img_h: u32, native: u32) -> (u32, u32) {
    let round8 = |v: f64| ((v / 8.0).round() as u32).max(8) * 8;
    if img_w >= img_h {
        (
            round8(native as f64),
            round8(native as f64 * img_h as f64 / img_w as f64),
        )
    } else {
        (
            round8(native as f64 * img_w as f64 / img_h as f64),
            round8(native as f64),
        )
    }
}

/// A downscaled copy whose longer side is `max_side` (for thumbnails).
pub fn thumbnail(img: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let scale = (max_side as f32 / w.max(h).max(1) as f32).min(1.0);
    let (tw, th) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    image::imageops::thumbnail(img, tw, th)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_tensor_round_trip_is_lossless() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 90, 7]));
        let t = rgb_to_tensor(&img, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 3, 5]);
        assert_eq!(tensor_to_rgb(&t).unwrap(), img);
    }

    #[test]
    fn aspect_sizes_are_multiples_of_eight() {
        assert_eq!(size_for_aspect(1920, 1080, 512), (512, 288));
        assert_eq!(size_for_aspect(1000, 3000, 768), (256, 768));
        assert_eq!(size_for_aspect(10, 10, 1024), (1024, 1024));
        assert_eq!(size_for_aspect(5000, 100, 512), (512, 64));
    }

    #[test]
    fn fit_crops_to_exact_size() {
        let img = RgbImage::new(300, 100);
        assert_eq!(fit_to(&img, 64, 64).dimensions(), (64, 64));
    }
}
