//! Sampling maths, free of models and files: the schedulers (samplers) that
//! turn a noise prediction into the next latent, and the seeded noise they
//! and the pipeline draw.
//!
//! - [`schedulers`]: diffusers' schedulers step by step (Euler, Euler a,
//!   DPM++ 2M (Karras), UniPC, DDIM, LCM), their configs and beta schedules;
//! - [`rng`]: seeded noise, bit-exact with PyTorch's CPU generator.

pub mod rng;
pub mod schedulers;
