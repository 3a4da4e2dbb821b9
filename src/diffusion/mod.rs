//! The diffusion process: prompt encoding, seeded noise, schedulers, the
//! denoising loop with its per-step previews, and image conversion.

pub mod rng;
pub mod schedulers;
