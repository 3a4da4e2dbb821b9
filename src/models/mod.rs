//! The neural networks of a Stable Diffusion pipeline, each built from the
//! config.json it ships with, and the code that finds and validates the files.
//!
//! - networks: [`clip`] (text encoder), [`unet`] (denoiser), [`vae`]
//!   (autoencoder), sharing [`layers`] and [`attention`];
//! - text: [`tokenizer`];
//! - files: [`files`] (diffusers folders), [`hub`] (Hugging Face cache),
//!   [`download`] (resumable, verified hub downloads into that cache),
//!   [`weights`] (validated safetensors), [`random`] (random-weight fixtures);
//! - the assembled pipeline: [`stable_diffusion`].

pub mod attention;
pub mod catalog;
pub mod clip;
pub mod config_file;
pub mod download;
pub mod files;
pub mod hub;
pub mod layers;
pub mod model_hash;
pub mod random;
pub mod single_file;
pub mod softmax;
pub mod stable_diffusion;
pub mod taesd;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weights;
