//! Latent Studio: a native image studio that shows Stable Diffusion at work.
//!
//! # Layers
//!
//! Each module uses only the modules above it in this list (lowest first;
//! modules on one line are siblings and do not use each other).
//! `tests/layers.rs` fails on any `use` that points the other way.
//!
//! 1. [`storage`]: bytes on disk, safely (crash-safe writes, file names,
//!    default folders); knows nothing of images or models.
//! 2. [`hub`]: the Hugging Face hub client and its cache, shared with
//!    Python's huggingface_hub; knows nothing of Stable Diffusion.
//! 3. [`error`]: the core error type, written for the person reading it.
//! 4. [`networks`], [`sampling`]: the neural networks as candle modules
//!    (CLIP, U-Net, VAE, TAESD; no paths, no app errors), and the samplers
//!    with their seeded noise (pure maths).
//! 5. [`models`]: which model, where its files are (catalog, built-in model,
//!    hub installs, diffusers folders, single-file checkpoints, weights,
//!    tokenizer, hash), assembled into a loaded pipeline.
//! 6. [`diffusion`]: one denoising job: parameters, prompt encoding, the
//!    step loop with its previews, the decay lens, image conversion.
//! 7. [`library`]: the image files we write and read (A1111 infotext, our
//!    JSON record, other tools' metadata, PNG and GIF files) and the index
//!    of favorites and history.
//! 8. [`engine`]: the background worker thread and its message protocol
//!    (jobs in, previews and results out), and download threads.
//! 9. [`ui`]: the studio window (eframe/egui); it drives the engine.
//! 10. `cli` (in the binary): the command line, and the window's launcher.
//!
//! `testing` (hidden from the docs) holds fixtures for the tests,
//! benchmarks and examples: random-weight models, reference data paths.
//!
//! # Where to change what
//!
//! | to change | open |
//! |---|---|
//! | a network's maths | `networks/` (`unet/`, `vae/`, `clip.rs`, `taesd.rs`, `layers.rs`, `attention.rs`) |
//! | a sampler | `sampling/schedulers/` (one file per diffusers scheduler) |
//! | which files a model needs, where they are | `models/files.rs`, `models/install.rs` |
//! | a catalog entry | `models/catalog.rs` |
//! | single-file checkpoint names | `models/single_file/` |
//! | the step loop, previews | `diffusion/pipeline.rs`, `diffusion/preview.rs` |
//! | what goes into a saved PNG | `engine/png_text.rs`, `library/record.rs`, `library/a1111.rs` |
//! | reading other tools' metadata | `library/info.rs` |
//! | downloads | `hub/` (the transfer), `engine/downloads.rs` (the threads) |
//! | the window | `ui/panels/` (drawing), `ui/controller/` (what actions do), `ui/state.rs` |

#![warn(missing_docs)]

pub mod diffusion;
pub mod engine;
pub mod error;
pub mod hub;
pub mod library;
pub mod models;
pub mod networks;
pub mod sampling;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod ui;

pub use error::{Error, Result};
