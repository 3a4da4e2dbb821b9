//! Latent Studio: a native image studio that shows Stable Diffusion at work.
//!
//! The crate is layered; each layer only uses the ones below it:
//!
//! - [`engine`]: the background worker thread and its message protocol
//!   (commands in, events out). The window and the CLI talk only to this.
//! - [`diffusion`]: the denoising pipeline: prompt encoding, schedulers,
//!   seeded noise, the step loop with per-step previews, image conversion.
//! - [`models`]: the neural networks (CLIP text encoder, U-Net, VAE), built
//!   from the config.json files a model ships with, and the code that finds
//!   and validates those files.
//! - [`ui`]: the studio window (eframe/egui); it drives the engine.
//! - [`storage`]: files on disk (crash-safe saves, names, GIF export).
//! - [`library`]: metadata inside image files (A1111 infotext).

#![warn(missing_docs)]

pub mod diffusion;
pub mod engine;
pub mod error;
pub mod hub;
pub mod library;
pub mod networks;
pub mod sampling;
pub mod models;
pub mod storage;
pub mod ui;

pub use error::{Error, Result};
