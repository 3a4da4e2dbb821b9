//! Tokens, the decay lens and dropped files: kept in step every frame.

use std::path::Path;
use std::sync::Arc;

use crate::diffusion::image_io::load_rgb;
use crate::engine::{EncodeRequest, StartImage};
use crate::models::source::ModelSource;
use crate::sampling::rng::RngKind;
use crate::ui::app::StudioApp;
use crate::ui::background::Done;
use crate::ui::state::LensKey;
use crate::ui::textures::{rgb_to_color_image, thumbnail};

/// Longest side of the start image thumbnail.
const START_THUMB_SIDE: u32 = 256;

impl StudioApp {
    pub(crate) fn refresh_tokens(&mut self) {
        let Some(tokenizer) = &self.tokenizer else {
            return;
        };
        let s = &self.studio.settings;
        let tokens = &mut self.studio.tokens;
        // Only when the text changed: typing costs one tokenization, idle frames none.
        let count = |text: &str, counted: &mut Option<String>, out: &mut Option<(usize, usize)>| {
            if counted.as_deref() != Some(text) {
                *out = tokenizer
                    .chunks(text)
                    .ok()
                    .map(|t| (t.token_count, t.chunks.len()));
                *counted = Some(text.to_string());
            }
        };
        count(&s.prompt, &mut tokens.counted.0, &mut tokens.prompt);
        count(
            &s.negative_prompt,
            &mut tokens.counted.1,
            &mut tokens.negative,
        );
    }

    /// Keep the decay lens in step with the settings: ask the engine for a
    /// new encode when the model or size changed, follow the seed, and move
    /// the lens to img2img's start when strength, steps or sampler change.
    pub(crate) fn maintain_lens(&mut self) {
        let settings = &self.studio.settings;
        let Some(start) = &mut self.studio.start else {
            return;
        };
        if !settings.show_lens || settings.model.trim().is_empty() {
            return;
        }
        let key = LensKey {
            model: settings.model.trim().to_string(),
            size: settings.size,
        };
        let requested = start.lens_request.as_ref().map(|(_, k)| k);
        if start.lens_key.as_ref() != Some(&key) && requested != Some(&key) {
            if let Some((old, _)) = start.lens_request.take() {
                self.engine.cancel(old);
            }
            let job = self.engine.encode_start(EncodeRequest {
                model: ModelSource::parse(&key.model),
                image: StartImage::Image(start.image.clone()),
                width: key.size.map(|s| s.0),
                height: key.size.map(|s| s.1),
            });
            start.lens_request = Some((job, key));
            start.lens_error = None;
        }
        if let Some(lens) = &mut start.lens {
            lens.set_seed(settings.seed, RngKind::TorchCpu);
            let sync = (settings.strength, settings.steps, settings.sampler);
            if start.lens_synced_to != Some(sync) {
                start.lens_synced_to = Some(sync);
                start.lens_t = lens
                    .img2img_timestep(settings.sampler, settings.steps, settings.strength)
                    .unwrap_or(0.0);
            }
        }
    }

    pub(super) fn cancel_lens_request(&mut self) {
        if let Some((job, _)) = self
            .studio
            .start
            .as_mut()
            .and_then(|s| s.lens_request.take())
        {
            self.engine.cancel(job);
        }
    }

    pub(crate) fn take_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        let Some(file) = dropped.first() else {
            return;
        };
        if dropped.len() > 1 {
            self.studio.notifications.info(
                "Using the first dropped file",
                "Only one start image can be used at a time.",
            );
        }
        let path = file.path().to_path_buf();
        if path.as_os_str().is_empty() {
            // No path (e.g. dragged from a browser): decode the bytes off-thread.
            let file = file.clone();
            self.background.spawn("decode", move || Done::StartImage {
                name: "dropped image".into(),
                image: file.bytes().and_then(|b| {
                    image::load_from_memory(&b)
                        .map(|i| with_thumbnail(Arc::new(i.to_rgb8())))
                        .map_err(|e| format!("not an image we can read: {e}"))
                }),
                found: None,
            });
        } else if let Some(kind) = model_file_kind(&path) {
            self.dropped_model_file(&path, kind);
        } else {
            self.load_start_image(path);
        }
    }

    /// A dropped checkpoint becomes the model; a pickle one is refused here,
    /// before anything reads it.
    fn dropped_model_file(&mut self, path: &std::path::Path, kind: ModelFileKind) {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match kind {
            ModelFileKind::Safetensors => {
                self.add_local_model(path, "checkpoint");
                self.studio.notifications.info(
                    format!("Using {name} as the model"),
                    "It loads when you generate; its family (SD 1.x, 2.x, SDXL) is read from the file.",
                );
            }
            ModelFileKind::Pickle => self.studio.notifications.error(
                format!("{name} was not loaded"),
                "Pickle checkpoints (.ckpt, .pt, .bin) can run arbitrary code when loaded, so Latent Studio refuses them. Download the .safetensors version of this model instead.",
            ),
        }
    }
}

/// Pair a start image with its thumbnail (made here, off the UI thread:
/// a photo can be 50 megapixels).
pub(super) fn with_thumbnail(
    image: Arc<image::RgbImage>,
) -> (Arc<image::RgbImage>, egui::ColorImage) {
    let thumb = rgb_to_color_image(&thumbnail(&image, START_THUMB_SIDE));
    (image, thumb)
}

/// Decode a start image, with a message saying what to do when it is not one.
pub(super) fn decode_start_image(path: &Path) -> Result<image::RgbImage, String> {
    if path.is_dir() {
        return Err("that is a folder; drop an image file (PNG, JPEG, WebP, BMP, GIF)".into());
    }
    load_rgb(path)
        .map_err(|e| format!("{}. Use a PNG, JPEG, WebP, BMP or GIF image.", e.one_line()))
}

/// What kind of model file a dropped file is, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelFileKind {
    Safetensors,
    Pickle,
}

fn model_file_kind(path: &std::path::Path) -> Option<ModelFileKind> {
    use crate::models::weights::{is_pickle, is_weights_file};
    if is_pickle(path) {
        Some(ModelFileKind::Pickle)
    } else if is_weights_file(path) {
        Some(ModelFileKind::Safetensors)
    } else {
        None
    }
}
