//! One denoising job: prompt encoding, the denoising loop with its per-step
//! previews, and image conversion (the samplers and the seeded noise they
//! draw are [`crate::sampling`]).
//!
//! - [`params`]: what reproduces an image; [`pipeline`]: the denoising loop;
//! - [`text`]: prompt → conditioning; [`preview`]: cheap per-step previews;
//! - [`image_io`]: images ↔ tensors, start-image preparation;
//! - [`decay`]: the forward process (a start image dissolving into noise).

pub mod decay;
pub mod image_io;
pub mod params;
pub mod pipeline;
pub mod preview;
pub mod text;
