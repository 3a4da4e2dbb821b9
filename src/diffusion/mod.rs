//! The diffusion process: prompt encoding, seeded noise, schedulers, the
//! denoising loop with its per-step previews, and image conversion.

pub mod image_io;
pub mod preview;
pub mod params;
pub mod pipeline;
pub mod text;
