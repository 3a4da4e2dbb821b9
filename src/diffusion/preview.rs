//! Cheap previews of the predicted clean image after every step.
//!
//! A full VAE decode at 512² costs more than a whole U-Net step on a CPU, so
//! live previews use a linear approximation of the VAE decoder: each latent
//! pixel's 4 channels map to RGB through a 4×3 matrix (+ bias). SD's VAEs use
//! the published matrices; a model whose VAE ships its own fitted map
//! (`vae/latent_preview.json`, e.g. the built-in emoji model) uses that.
//! The result has the latent's resolution (64×64 for a 512² image), which is
//! what the timeline keeps for every step.

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::networks::vae::LatentToRgb;

/// Which decoder makes the per-step previews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PreviewMode {
    /// TAESD on GPUs (cheap there), the linear map on the CPU, where TAESD
    /// costs about an eighth of a 512² step.
    #[default]
    Auto,
    /// Always the linear latent→RGB map (microseconds).
    Fast,
    /// TAESD whenever its weights are installed.
    Taesd,
}

impl PreviewMode {
    /// Whether to load TAESD for a model computing on `device`.
    pub fn wants_taesd(self, device: &candle_core::Device) -> bool {
        match self {
            PreviewMode::Auto => !device.is_cpu(),
            PreviewMode::Fast => false,
            PreviewMode::Taesd => true,
        }
    }
}

impl std::str::FromStr for PreviewMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PreviewMode::Auto),
            "fast" | "linear" => Ok(PreviewMode::Fast),
            "taesd" => Ok(PreviewMode::Taesd),
            other => Err(format!(
                "unknown preview mode '{other}' (expected auto, fast or taesd)"
            )),
        }
    }
}

/// An RGBA8 image small enough to send every step.
#[derive(Clone, PartialEq, Eq)]
pub struct PreviewImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes, row-major, straight alpha (always 255).
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for PreviewImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreviewImage({}x{})", self.width, self.height)
    }
}

impl PreviewImage {
    /// Convert to an `image` buffer (e.g. to save or to build a GIF frame).
    pub fn to_rgba_image(&self) -> Option<image::RgbaImage> {
        image::RgbaImage::from_raw(self.width, self.height, self.rgba.clone())
    }
}

/// Render the first image of a `[b, c, h, w]` scaled latent batch.
///
/// Models with other than 4 latent channels fall back to showing the first
/// three channels as a normalised false-colour image.
pub fn latent_preview(latents: &Tensor, map: &LatentToRgb) -> Result<PreviewImage> {
    let (_, c, h, w) = latents.dims4()?;
    let first: Vec<f32> = latents
        .get(0)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    let plane = h * w;
    let mut rgba = vec![255u8; plane * 4];
    let to_u8 = |v: f32| (((v + 1.0) * 127.5).round()).clamp(0.0, 255.0) as u8;
    if c == 4 {
        let LatentToRgb { matrix, bias } = *map;
        for p in 0..plane {
            for (o, b) in bias.iter().enumerate() {
                let v: f32 = (0..4)
                    .map(|ch| first[ch * plane + p] * matrix[ch][o])
                    .sum::<f32>()
                    + b;
                rgba[p * 4 + o] = to_u8(if v.is_finite() { v } else { 0.0 });
            }
        }
    } else {
        for o in 0..3.min(c) {
            let ch = &first[o * plane..(o + 1) * plane];
            let (lo, hi) = ch
                .iter()
                .filter(|v| v.is_finite())
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let span = (hi - lo).max(1e-6);
            for p in 0..plane {
                rgba[p * 4 + o] = to_u8((ch[p] - lo) / span * 2.0 - 1.0);
            }
        }
    }
    Ok(PreviewImage {
        width: w as u32,
        height: h as u32,
        rgba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn zero_latent_is_mid_grey_for_sd() {
        let z = Tensor::zeros((1, 4, 2, 3), DType::F32, &Device::Cpu).unwrap();
        let p = latent_preview(&z, &crate::networks::vae::LatentSpace::Sd.latent_to_rgb()).unwrap();
        assert_eq!((p.width, p.height), (3, 2));
        assert!(p.rgba.chunks(4).all(|px| px == [128, 128, 128, 255]));
    }

    #[test]
    fn channel_weights_are_applied_per_pixel() {
        // Only channel 3 of pixel 0 is set: rgb = -1.0 * row 3 of the matrix.
        let mut data = vec![0f32; 4 * 2];
        data[3 * 2] = -1.0;
        let z = Tensor::from_vec(data, (1, 4, 1, 2), &Device::Cpu).unwrap();
        let p = latent_preview(&z, &crate::networks::vae::LatentSpace::Sd.latent_to_rgb()).unwrap();
        let expect = |v: f32| ((v + 1.0) * 127.5).round() as u8;
        assert_eq!(
            &p.rgba[0..3],
            &[expect(0.2120), expect(0.2616), expect(0.7177)]
        );
        assert_eq!(&p.rgba[4..7], &[128, 128, 128]);
    }

    #[test]
    fn a_model_map_is_used_with_its_bias() {
        let map = LatentToRgb {
            matrix: [
                [1.0, 0.0, 0.0],
                [0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0],
            ],
            bias: [0.0, 1.0, -1.0],
        };
        let z = Tensor::from_vec(vec![0.5f32, 0.0, 0.0, 0.0], (1, 4, 1, 1), &Device::Cpu).unwrap();
        let p = latent_preview(&z, &map).unwrap();
        assert_eq!(&p.rgba[0..3], &[191, 255, 0]);
    }
}

#[cfg(test)]
mod mode_tests {
    use super::PreviewMode;
    use candle_core::Device;

    #[test]
    fn auto_keeps_the_cpu_on_the_cheap_preview() {
        assert!(!PreviewMode::Auto.wants_taesd(&Device::Cpu));
        assert!(PreviewMode::Taesd.wants_taesd(&Device::Cpu));
        assert!(!PreviewMode::Fast.wants_taesd(&Device::Cpu));
        assert_eq!("TAESD".parse::<PreviewMode>(), Ok(PreviewMode::Taesd));
        assert!("sharp".parse::<PreviewMode>().is_err());
    }
}
