//! The neural networks of a Stable Diffusion pipeline, each built from the
//! config.json it ships with, and the code that finds and validates the files.

pub mod attention;
pub mod clip;
pub mod layers;
pub mod tokenizer;
pub mod vae;
pub mod weights;
