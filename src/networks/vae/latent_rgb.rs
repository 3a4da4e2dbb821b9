//! A VAE's latent space seen through a linear lens: each latent pixel's 4
//! channels map to RGB through a 4×3 matrix (+ bias). Cheap enough for a
//! preview after every step (`crate::diffusion::preview`); SD's VAEs use the
//! published matrices, a VAE that ships its own fitted map uses that.

/// Which latent space the model's VAE uses (the preview matrices differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LatentSpace {
    /// SD 1.x and 2.x (scaling factor 0.18215).
    Sd,
    /// SDXL (scaling factor 0.13025).
    Sdxl,
}

/// Coefficients mapping scaled latents to RGB in [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentToRgb {
    /// Row `c` gives channel `c`'s contribution to (r, g, b).
    pub matrix: [[f32; 3]; 4],
    /// Added to (r, g, b).
    pub bias: [f32; 3],
}

impl LatentSpace {
    /// The published latent→RGB approximation for this latent space.
    pub fn latent_to_rgb(self) -> LatentToRgb {
        match self {
            LatentSpace::Sd => LatentToRgb {
                matrix: [
                    [0.3512, 0.2297, 0.3227],
                    [0.3250, 0.4974, 0.2350],
                    [-0.2829, 0.1762, 0.2721],
                    [-0.2120, -0.2616, -0.7177],
                ],
                bias: [0.0; 3],
            },
            LatentSpace::Sdxl => LatentToRgb {
                matrix: [
                    [0.3651, 0.4232, 0.4341],
                    [-0.2533, -0.0042, 0.1068],
                    [0.1076, 0.1111, -0.0362],
                    [-0.3165, -0.2492, -0.2188],
                ],
                bias: [0.1084, -0.0175, -0.0011],
            },
        }
    }
}
