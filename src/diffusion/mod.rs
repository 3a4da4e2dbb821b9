//! The diffusion process: prompt encoding, seeded noise, schedulers, the
//! denoising loop with its per-step previews, and image conversion.
//!
//! - [`params`]: what reproduces an image; [`pipeline`]: the denoising loop;
//! - [`text`]: prompt → conditioning; [`rng`]: seeded (PyTorch-exact) noise;
//! - [`schedulers`]: the samplers; [`preview`]: cheap per-step previews;
//! - [`image_io`]: images ↔ tensors, start-image preparation;
//! - [`decay`]: the forward process (a start image dissolving into noise).

pub mod decay;
pub mod image_io;
pub mod params;
pub mod pipeline;
pub mod preview;
pub mod rng;
pub mod schedulers;
pub mod text;
