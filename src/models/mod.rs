//! Model management: which model, where its files are, and turning those
//! files into a loaded pipeline of [`crate::networks`].
//!
//! - which models: [`catalog`] (recommended models: files, sizes, licenses,
//!   defaults), [`builtin`] (the emoji model shipped in `assets/`);
//! - files: [`source`] (a model as the user named it), [`files`] (where its
//!   files are, the one weight-file naming rule), [`install`] (what a hub
//!   model needs, what of it is in the Hugging Face cache, fetching the rest
//!   through [`crate::hub`]), [`single_file`] (LDM checkpoints mapped to our
//!   networks), [`weights`] (validated safetensors, half precision kept),
//!   [`config_file`] (a network's config.json, errors naming the file),
//!   [`model_hash`] (A1111's checkpoint hash), [`preview_map`] (a VAE's own
//!   latent→RGB preview map);
//! - text: [`tokenizer`];
//! - the assembled pipeline: [`stable_diffusion`].

pub mod builtin;
pub mod catalog;
pub mod config_file;
pub mod files;
pub mod install;
pub mod model_hash;
pub mod preview_map;
pub mod single_file;
pub mod source;
pub mod stable_diffusion;
pub mod tokenizer;
pub mod weights;
