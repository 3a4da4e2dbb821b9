//! GPU textures for images the window shows. Textures are view caches: the
//! data lives in [`crate::ui::state`], and a texture is (re)made only when
//! its source changes.

use egui::{ColorImage, TextureHandle, TextureOptions};
use image::RgbImage;

use crate::diffusion::preview::PreviewImage;

/// Sampling for an image of `size` pixels. Small images (the built-in
/// model's 64 px results, 16 px step previews) are shown many times their
/// size: nearest-neighbour magnification keeps their pixels crisp instead of
/// smearing them into a blur; large ones are smoothed as usual.
pub fn options_for(size: [usize; 2]) -> TextureOptions {
    if size[0].max(size[1]) <= SMALL_IMAGE {
        TextureOptions {
            magnification: egui::TextureFilter::Nearest,
            ..TextureOptions::LINEAR
        }
    } else {
        TextureOptions::LINEAR
    }
}

/// Images up to this many pixels wide and high are magnified crisply.
const SMALL_IMAGE: usize = 128;

/// A texture updated in place: same-size updates reuse the GPU allocation
/// (`set_partial`), so a step preview costs one upload, not a new texture.
pub struct LiveTexture {
    name: String,
    handle: Option<TextureHandle>,
    size: [usize; 2],
    /// GPU allocations made so far (tests check it stays at one per size).
    pub allocations: usize,
}

impl LiveTexture {
    /// An empty texture slot.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            handle: None,
            size: [0, 0],
            allocations: 0,
        }
    }

    /// Show `image` from now on.
    pub fn update(&mut self, ctx: &egui::Context, image: ColorImage) {
        let size = image.size;
        let options = options_for(size);
        match &mut self.handle {
            Some(handle) if size == self.size => handle.set_partial([0, 0], image, options),
            Some(handle) => {
                handle.set(image, options);
                self.allocations += 1;
            }
            None => {
                self.handle = Some(ctx.load_texture(&self.name, image, options));
                self.allocations += 1;
            }
        }
        self.size = size;
    }

    /// The texture, once something was uploaded.
    pub fn handle(&self) -> Option<&TextureHandle> {
        self.handle.as_ref()
    }

    /// Forget the image (frees the texture).
    pub fn clear(&mut self) {
        self.handle = None;
        self.size = [0, 0];
    }
}

/// A step preview as an egui image.
pub fn preview_to_color_image(p: &PreviewImage) -> ColorImage {
    ColorImage::from_rgba_unmultiplied([p.width as usize, p.height as usize], &p.rgba)
}

/// An RGB image as an egui image.
pub fn rgb_to_color_image(img: &RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

pub use crate::diffusion::image_io::thumbnail;

/// Every texture the window keeps, keyed by what it shows.
pub struct TextureCache {
    /// The live step preview (updated in place each step).
    pub live: LiveTexture,
    /// The decay lens frame.
    pub lens: LiveTexture,
    /// What `lens` shows now: (start image id, timestep bits, seed).
    pub lens_shown: Option<(u64, u64, u64)>,
    /// Full image and thumbnail per gallery item.
    pub items: std::collections::HashMap<u64, ItemTextures>,
    /// Which frame set `timeline` holds.
    pub timeline_key: Option<crate::ui::state::TimelineKey>,
    /// One small texture per timeline frame.
    pub timeline: Vec<TextureHandle>,
    /// Start image thumbnail: (start image id, texture).
    pub start_thumb: Option<(u64, TextureHandle)>,
    /// Library thumbnails by index entry id (`None`: requested, not yet here).
    pub library: std::collections::HashMap<i64, Option<TextureHandle>>,
}

/// Textures of one gallery item.
pub struct ItemTextures {
    /// Full resolution, for the canvas.
    pub full: TextureHandle,
    /// Small, for the gallery grid.
    pub thumb: TextureHandle,
}

impl Default for TextureCache {
    fn default() -> Self {
        Self {
            live: LiveTexture::new("live-preview"),
            lens: LiveTexture::new("decay-lens"),
            lens_shown: None,
            items: Default::default(),
            timeline_key: None,
            timeline: Vec::new(),
            start_thumb: None,
            library: Default::default(),
        }
    }
}

impl TextureCache {
    /// Textures for the frames of `view`, made for new frames only.
    pub fn timeline_frames(
        &mut self,
        ctx: &egui::Context,
        view: &crate::ui::state::TimelineView<'_>,
    ) -> &[TextureHandle] {
        let key = view.key();
        if key != self.timeline_key {
            self.timeline.clear();
            self.timeline_key = key;
        }
        while self.timeline.len() < view.len() {
            let i = self.timeline.len();
            let Some(frame) = view.frame(i) else { break };
            let image = preview_to_color_image(frame);
            let options = options_for(image.size);
            let tex = ctx.load_texture(format!("timeline-{i}"), image, options);
            self.timeline.push(tex);
        }
        &self.timeline
    }
}
