//! The emergence timeline (one preview per step, then the final image) as
//! an animated GIF: noise turning into a picture, shareable anywhere.

use std::path::Path;
use std::time::Duration;

use image::codecs::gif::{GifEncoder, Repeat};
use image::imageops::FilterType;
use image::{Delay, Frame, RgbImage, RgbaImage};

use crate::diffusion::preview::PreviewImage;
use crate::storage::StorageError;

/// How long each step shows in an exported GIF (the window and the CLI).
pub const FRAME_TIME: Duration = Duration::from_millis(150);

/// Longest side of the GIF, in pixels (previews are upscaled to it, a large
/// final image downscaled, a small one enlarged by a whole factor).
const GIF_MAX_SIDE: u32 = 512;

/// Encode `previews` (one per step) followed by `final_image` as a looping
/// GIF. Each step shows for `frame_time`; the final image holds for a second.
fn encode_emergence(
    previews: &[PreviewImage],
    final_image: &RgbImage,
    frame_time: Duration,
    out: &mut dyn std::io::Write,
) -> Result<(), StorageError> {
    let (w, h) = gif_size(final_image.width(), final_image.height());
    let mut encoder = GifEncoder::new_with_speed(out, 10);
    encoder
        .set_repeat(Repeat::Infinite)
        .map_err(|e| StorageError::Encode(e.to_string()))?;
    let step_delay = Delay::from_saturating_duration(frame_time);
    let mut frames = Vec::with_capacity(previews.len() + 1);
    for preview in previews {
        let Some(rgba) = preview.to_rgba_image() else {
            continue;
        };
        frames.push(Frame::from_parts(
            image::imageops::resize(&rgba, w, h, filter(rgba.width(), w)),
            0,
            0,
            step_delay,
        ));
    }
    let last: RgbaImage = image::DynamicImage::ImageRgb8(final_image.clone())
        .resize_exact(w, h, filter(final_image.width(), w))
        .to_rgba8();
    frames.push(Frame::from_parts(
        last,
        0,
        0,
        Delay::from_saturating_duration(Duration::from_secs(1)),
    ));
    encoder
        .encode_frames(frames)
        .map_err(|e| StorageError::Encode(e.to_string()))
}

/// Write the GIF to `path` crash-safely (replacing a file the user chose).
pub fn save_emergence(
    path: &Path,
    previews: &[PreviewImage],
    final_image: &RgbImage,
    frame_time: Duration,
) -> Result<(), StorageError> {
    let mut bytes = Vec::new();
    encode_emergence(previews, final_image, frame_time, &mut bytes)?;
    crate::storage::atomic::replace_file(path, |w| w.write_all(&bytes))
}

/// Nearest-neighbour when enlarging at least twice (a 16 px preview or a
/// 64 px image stays crisp instead of a blur), else a smooth filter.
fn filter(from: u32, to: u32) -> FilterType {
    if to >= 2 * from {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    }
}

/// Large images shrink to [`GIF_MAX_SIDE`]; small ones (the built-in
/// model's 64 px) grow by a whole factor towards it, so they can be seen.
fn gif_size(w: u32, h: u32) -> (u32, u32) {
    let side = w.max(h).max(1);
    let scale = if side <= GIF_MAX_SIDE / 2 {
        (GIF_MAX_SIDE / side) as f64
    } else {
        (GIF_MAX_SIDE as f64 / side as f64).min(1.0)
    };
    (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;

    #[test]
    fn one_frame_per_step_plus_the_result() {
        let previews: Vec<PreviewImage> = (0..3u8)
            .map(|i| PreviewImage {
                width: 4,
                height: 2,
                rgba: [i * 80, 0, 0, 255].repeat(8),
            })
            .collect();
        let fin = RgbImage::from_pixel(32, 16, image::Rgb([0, 200, 0]));
        let mut bytes = Vec::new();
        encode_emergence(&previews, &fin, Duration::from_millis(120), &mut bytes).unwrap();
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        let frames = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 4);
        // A small image is enlarged by a whole factor towards 512 px.
        assert_eq!(frames[0].buffer().dimensions(), (512, 256));
        let px = frames[3].buffer().get_pixel(256, 128);
        assert!(
            px[1] > 150 && px[0] < 60,
            "last frame is the final image: {px:?}"
        );
        let px = frames[2].buffer().get_pixel(256, 128);
        assert!(px[0] > 120, "third frame is the third preview: {px:?}");
    }
}
