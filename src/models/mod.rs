//! The neural networks of a Stable Diffusion pipeline, each built from the
//! config.json it ships with, and the code that finds and validates the files.
//!
//! - networks: [`clip`] (text encoder), [`unet`] (denoiser), [`vae`]
//!   (autoencoder), sharing [`layers`] and [`attention`];
//! - text: [`tokenizer`];
//! - which models: [`catalog`] (recommended models: files, sizes, licenses,
//!   defaults), [`builtin`] (the emoji model shipped in `assets/`);
//! - files: [`files`] (where a model's files are), [`hub`] (Hugging Face
//!   cache), [`download`] (resumable, verified hub downloads into that
//!   cache), [`single_file`] (LDM checkpoints mapped to our networks),
//!   [`weights`] (validated, memory-mapped safetensors), [`model_hash`]
//!   (A1111's checkpoint hash), [`preview_map`] (a VAE's own latent→RGB
//!   preview map), [`random`] (random-weight fixtures);
//! - the assembled pipeline: [`stable_diffusion`].

pub mod attention;
pub mod builtin;
pub mod catalog;
pub mod clip;
pub mod config_file;

pub mod files;
pub mod install;
pub mod layers;
pub mod model_hash;
pub mod preview_map;
pub mod random;
pub mod single_file;
pub mod softmax;
pub mod stable_diffusion;
pub mod taesd;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weights;
