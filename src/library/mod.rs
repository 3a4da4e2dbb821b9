//! The image library: what is written into and read out of image files so
//! that a picture can be found again and reproduced, here and in the other
//! tools people use.
//!
//! - [`infotext`]: AUTOMATIC1111's `parameters` text (writer and parser);
//! - [`a1111`]: our parameters ↔ that text (sampler names, schedule types);
//! - [`record`]: our own lossless JSON chunk;
//! - [`image_files`]: saving results as PNGs with those texts, crash-safe;
//! - [`png_chunks`]: reading text chunks back with bounded memory;
//! - [`emergence_gif`]: a job's step previews as an animated GIF;
//! - [`info`]: parameters from Latent Studio, A1111, ComfyUI or InvokeAI files;
//! - [`index`]: the SQLite index of favorites and history (files are the truth);
//! - [`folder_scan`]: PNGs in a folder, thumbnails, leftovers of killed saves.

pub mod a1111;
pub mod emergence_gif;
pub mod folder_scan;
pub mod image_files;
pub mod index;
pub mod info;
pub mod infotext;
pub mod png_chunks;
pub mod record;

use std::path::Path;

/// Why an image's parameters could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// The file could not be read or is not a PNG.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: png_chunks::ChunkError,
    },
    /// A readable image with no parameters in it.
    #[error("{0} holds no generation parameters (none from Latent Studio, AUTOMATIC1111, ComfyUI or InvokeAI)")]
    NoParameters(std::path::PathBuf),
}

/// The generation parameters recorded in the image at `path`.
pub fn read_image_info(path: &Path) -> Result<info::ImageInfo, InfoError> {
    let chunks = png_chunks::read_text_chunks(path).map_err(|source| InfoError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    info::from_chunks(&chunks).ok_or_else(|| InfoError::NoParameters(path.to_path_buf()))
}
