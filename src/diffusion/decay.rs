//! The forward process made visible: a start image dissolving into noise.
//!
//! Diffusion models are trained on `x_t = √ᾱ_t · x₀ + √(1−ᾱ_t) · ε`: the clean
//! latent `x₀` fades while Gaussian noise `ε` grows as the timestep `t` rises.
//! img2img starts the reverse process from exactly such an `x_t`, at the
//! timestep that `strength` picks. [`DecayLens`] shows any `x_t` of a start
//! image through the cheap linear preview, so a person can see where img2img
//! will begin before spending a minute on it.
//!
//! The expensive part (the VAE encode of the start image) runs on the engine;
//! everything here is a few thousand multiply-adds at latent resolution.

use candle_core::{Device, Tensor};

use crate::diffusion::preview::{latent_preview, PreviewImage};
use crate::error::Result;
use crate::networks::vae::LatentToRgb;
use crate::sampling::rng::{noise_source, RngKind};
use crate::sampling::schedulers::{
    alphas_cumprod, build_scheduler, img2img_start_step, SamplerKind, SchedulerConfig,
};

/// A start image encoded to the model's latent space, plus what is needed to
/// noise it the way the model's scheduler does.
#[derive(Debug, Clone)]
pub struct StartLatent {
    /// Scaled latent `x₀`, `[channels, height, width]` row-major.
    pub latent: Vec<f32>,
    /// `[channels, height, width]` of `latent`.
    pub shape: [usize; 3],
    /// The model's linear latent→RGB preview map.
    pub preview_map: LatentToRgb,
    /// The model's scheduler config (its noise schedule).
    pub scheduler: SchedulerConfig,
    /// Pixel size the image was fitted to before encoding.
    pub size: (u32, u32),
}

/// `x_t` of one start image for any `t`, with noise from a fixed seed.
#[derive(Debug, Clone)]
pub struct DecayLens {
    start: StartLatent,
    alphas_cumprod: Vec<f64>,
    noise: Vec<f32>,
    seed: u64,
    rng: RngKind,
}

impl DecayLens {
    /// A lens over `start`, noised with the first draw of `seed` (the same
    /// draw img2img uses for its start noise).
    pub fn new(start: StartLatent, seed: u64, rng: RngKind) -> Self {
        let alphas_cumprod = alphas_cumprod(&start.scheduler);
        let noise = draw_noise(&start, seed, rng);
        Self {
            start,
            alphas_cumprod,
            noise,
            seed,
            rng,
        }
    }

    /// Switch to another seed's noise (no-op when unchanged).
    pub fn set_seed(&mut self, seed: u64, rng: RngKind) {
        if (seed, rng) != (self.seed, self.rng) {
            self.noise = draw_noise(&self.start, seed, rng);
            self.seed = seed;
            self.rng = rng;
        }
    }

    /// The encoded start image.
    pub fn start(&self) -> &StartLatent {
        &self.start
    }

    /// Number of training timesteps; valid `t` run from 0 to this minus one.
    pub fn train_timesteps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// `ᾱ_t`, the fraction of signal kept at timestep `t` (interpolated for
    /// fractional `t`, which Karras-style samplers use).
    pub fn alpha_bar(&self, t: f64) -> f64 {
        let last = self.alphas_cumprod.len() - 1;
        let t = t.clamp(0.0, last as f64);
        let lo = t.floor() as usize;
        let hi = (lo + 1).min(last);
        let frac = t - lo as f64;
        self.alphas_cumprod[lo] * (1.0 - frac) + self.alphas_cumprod[hi] * frac
    }

    /// The noised latent `√ᾱ_t · x₀ + √(1−ᾱ_t) · ε`, same layout as [`StartLatent::latent`].
    pub fn noised(&self, t: f64) -> Vec<f32> {
        let a = self.alpha_bar(t);
        let (signal, noise) = (a.sqrt() as f32, (1.0 - a).sqrt() as f32);
        self.start
            .latent
            .iter()
            .zip(&self.noise)
            .map(|(&x, &e)| signal * x + noise * e)
            .collect()
    }

    /// What `x_t` looks like through the linear preview decoder.
    pub fn frame(&self, t: f64) -> Result<PreviewImage> {
        let [c, h, w] = self.start.shape;
        let x = Tensor::from_vec(self.noised(t), (1, c, h, w), &Device::Cpu)?;
        latent_preview(&x, &self.start.preview_map)
    }

    /// The timestep img2img starts from with this sampler, step count and
    /// strength; `None` when strength is so low that no step runs.
    pub fn img2img_timestep(
        &self,
        sampler: SamplerKind,
        steps: usize,
        strength: f64,
    ) -> Option<f64> {
        let scheduler = build_scheduler(sampler, &self.start.scheduler, steps).ok()?;
        let start = img2img_start_step(steps, strength);
        scheduler.timesteps().get(start).copied()
    }
}

fn draw_noise(start: &StartLatent, seed: u64, rng: RngKind) -> Vec<f32> {
    noise_source(rng, seed).randn(start.latent.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens() -> DecayLens {
        let shape = [4, 2, 3];
        let latent = (0..24).map(|i| (i as f32 - 12.0) / 10.0).collect();
        DecayLens::new(
            StartLatent {
                latent,
                shape,
                preview_map: crate::networks::vae::LatentSpace::Sd.latent_to_rgb(),
                scheduler: SchedulerConfig::default(),
                size: (24, 16),
            },
            7,
            RngKind::TorchCpu,
        )
    }

    #[test]
    fn follows_the_forward_process_formula() {
        let lens = lens();
        let noise = noise_source(RngKind::TorchCpu, 7).randn(24);
        for t in [0.0, 250.0, 999.0] {
            let a = lens.alpha_bar(t);
            let got = lens.noised(t);
            for (i, v) in got.iter().enumerate() {
                let want =
                    a.sqrt() as f32 * lens.start.latent[i] + (1.0 - a).sqrt() as f32 * noise[i];
                assert!((v - want).abs() < 1e-6);
            }
        }
        // Signal fades monotonically from almost all to almost none.
        assert!(lens.alpha_bar(0.0) > 0.99 && lens.alpha_bar(999.0) < 0.01);
        assert!(lens.alpha_bar(500.0) < lens.alpha_bar(499.5));
    }

    #[test]
    fn seed_changes_the_noise_not_the_image() {
        let mut lens = lens();
        let a = lens.noised(999.0);
        let clean = lens.noised(0.0);
        lens.set_seed(8, RngKind::TorchCpu);
        assert_ne!(a, lens.noised(999.0));
        let clean2 = lens.noised(0.0);
        let max = clean
            .iter()
            .zip(&clean2)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(max < 0.1, "at t=0 the image dominates");
    }

    #[test]
    fn strength_picks_the_img2img_start_timestep() {
        let lens = lens();
        let ddim = |s| lens.img2img_timestep(SamplerKind::Ddim, 20, s);
        // Strength 1 starts at the first (noisiest) timestep, lower strengths later.
        assert!(ddim(1.0).unwrap() > ddim(0.5).unwrap());
        assert!(ddim(0.5).unwrap() > ddim(0.2).unwrap());
        assert_eq!(ddim(0.0), None);
        let frame = lens.frame(ddim(0.5).unwrap()).unwrap();
        assert_eq!((frame.width, frame.height), (3, 2));
    }
}
