//! The whole pipeline on tiny random models in the SD1, SD2 (v-prediction)
//! and SDXL layouts, loaded from disk through the real loader.

mod common;

use candle_core::Device;
use common::{tiny_model, Family};
use image::RgbImage;
use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::pipeline::{generate, Generated};
use latent_studio::models::files::ModelFiles;
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::{ModelFamily, StableDiffusion};
use latent_studio::sampling::schedulers::SamplerKind;
use latent_studio::Error;

fn load(root: &std::path::Path) -> StableDiffusion {
    let files = ModelFiles::resolve(&ModelSource::Folder(root.to_path_buf()), false).unwrap();
    StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {}).unwrap()
}

fn params(prompt: &str) -> GenerationParams {
    GenerationParams {
        prompt: prompt.into(),
        steps: 4,
        seed: 42,
        width: Some(64),
        height: Some(64),
        ..Default::default()
    }
}

fn run(model: &StableDiffusion, p: &GenerationParams, init: Option<&RgbImage>) -> Generated {
    generate(model, p, init, &mut |_| true).unwrap()
}

fn assert_sane(g: &Generated, w: u32, h: u32, steps: usize) {
    assert_eq!(g.image.dimensions(), (w, h));
    assert_eq!(g.previews.len(), steps, "one preview per step");
    let first = g.image.get_pixel(0, 0);
    assert!(
        g.image.pixels().any(|p| p != first),
        "image is a flat colour"
    );
}

#[test]
fn txt2img_in_every_layout() {
    for (family, expected) in [
        (Family::Sd1, ModelFamily::Sd1),
        (Family::Sd2, ModelFamily::Sd2),
        (Family::Sdxl, ModelFamily::Sdxl),
    ] {
        let (_tmp, root) = tiny_model(family);
        let model = load(&root);
        assert_eq!(model.family, expected);
        let g = run(&model, &params("a photo of a terrier"), None);
        assert_sane(&g, 64, 64, 4);
        assert_eq!(g.previews[0].width, 8, "previews have latent resolution");
    }
}

#[test]
fn native_size_comes_from_the_configs() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    // unet sample_size 8 × VAE factor 8.
    assert_eq!(model.native_size(), 64);
    let mut p = params("x");
    p.width = None;
    p.height = None;
    let g = run(&model, &p, None);
    assert_eq!(g.image.dimensions(), (64, 64));
    assert_eq!(g.params.width, Some(64));
}

#[test]
fn same_seed_same_image_other_seed_other_image() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    let a = run(&model, &params("a cat"), None);
    let b = run(&model, &params("a cat"), None);
    assert_eq!(a.image, b.image);
    assert_eq!(a.previews, b.previews);
    let mut other = params("a cat");
    other.seed = 43;
    assert_ne!(run(&model, &other, None).image, a.image);
}

#[test]
fn the_prompt_changes_the_image() {
    let (_tmp, root) = tiny_model(Family::Sdxl);
    let model = load(&root);
    let a = run(&model, &params("a red cat"), None);
    let b = run(&model, &params("a blue dog"), None);
    assert_ne!(a.image, b.image);
}

#[test]
fn long_prompts_are_chunked_not_rejected() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    let long = "a very detailed painting of a small terrier dog, ".repeat(12);
    let g = run(&model, &params(&long), None);
    assert!(g.token_count > 75, "token count {}", g.token_count);
    assert_sane(&g, 64, 64, 4);
    // The tail of a long prompt matters: changing it changes the image.
    let changed = format!("{long} in the snow");
    assert_ne!(run(&model, &params(&changed), None).image, g.image);
}

#[test]
fn every_sampler_runs_in_every_layout() {
    for family in [Family::Sd1, Family::Sd2] {
        let (_tmp, root) = tiny_model(family);
        let model = load(&root);
        for &sampler in SamplerKind::ALL {
            let mut p = params("a lighthouse");
            p.sampler = sampler;
            p.steps = 3;
            let g = run(&model, &p, None);
            assert_sane(&g, 64, 64, 3);
        }
    }
}

#[test]
fn guidance_off_runs_single_batch() {
    let (_tmp, root) = tiny_model(Family::Sdxl);
    let model = load(&root);
    let mut p = params("turbo style");
    p.cfg_scale = 0.0;
    p.steps = 1;
    let g = run(&model, &p, None);
    assert_sane(&g, 64, 64, 1);
}

#[test]
fn taesd_previews_when_installed() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let mut files = ModelFiles::resolve(&ModelSource::Folder(root), false).unwrap();
    files.preview_decoder = Some(common::tiny_taesd());
    let model = StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {}).unwrap();
    assert!(model.preview_decoder.is_some());
    let g = run(&model, &params("x"), None);
    // TAESD upsamples 8×: full-resolution previews instead of latent-sized ones.
    assert_eq!((g.previews[0].width, g.previews[0].height), (64, 64));
    assert_eq!(g.image.dimensions(), (64, 64));
}

#[test]
fn a_broken_taesd_only_costs_the_sharp_previews() {
    let (tmp, root) = tiny_model(Family::Sd1);
    let mut files = ModelFiles::resolve(&ModelSource::Folder(root), false).unwrap();
    let bad = tmp.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    files.preview_decoder = Some(latent_studio::models::files::ComponentFiles {
        weights: vec![bad],
        ..common::tiny_taesd()
    });
    let mut messages = Vec::new();
    let model = StableDiffusion::load(files, &Device::Cpu, &mut |what, _| {
        messages.push(what.to_string())
    })
    .unwrap();
    assert!(model.preview_decoder.is_none());
    assert!(
        messages
            .iter()
            .any(|m| m.contains("TAESD previews unavailable")),
        "{messages:?}"
    );
    assert_eq!(run(&model, &params("x"), None).previews[0].width, 8);
}

fn start_image(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 128]))
}

#[test]
fn img2img_runs_the_strength_fraction_of_steps() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    let mut p = params("a watercolour");
    p.steps = 10;
    p.strength = 0.5;
    let init = start_image(64, 64);
    let g = run(&model, &p, Some(&init));
    assert_sane(&g, 64, 64, 5);
    // A different start image gives a different result.
    let other = RgbImage::from_pixel(64, 64, image::Rgb([10, 200, 30]));
    assert_ne!(run(&model, &p, Some(&other)).image, g.image);
}

#[test]
fn img2img_without_size_keeps_the_aspect_ratio() {
    let (_tmp, root) = tiny_model(Family::Sd2);
    let model = load(&root);
    let mut p = params("a photo");
    p.width = None;
    p.height = None;
    p.strength = 0.6;
    // Native size 128 (sample_size 16 × 8): the longer side becomes 128.
    assert_eq!(model.native_size(), 128);
    let g = run(&model, &p, Some(&start_image(200, 100)));
    assert_eq!(g.image.dimensions(), (128, 64));
    assert_eq!(g.params.width, Some(128));
}

#[test]
fn strength_one_is_txt2img_from_the_same_seed() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    let mut p = params("x");
    p.strength = 1.0;
    let with_image = run(&model, &p, Some(&start_image(64, 64)));
    let without = run(&model, &p, None);
    assert_eq!(with_image.image, without.image);
}

#[test]
fn cancelling_stops_at_the_step() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    let mut p = params("x");
    p.steps = 10;
    let mut seen = 0;
    let err = generate(&model, &p, None, &mut |s| {
        seen = s.step;
        s.step < 3
    })
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
    assert_eq!(seen, 3);
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let model = load(&root);
    type Mutation = fn(&mut GenerationParams);
    let cases: Vec<(Mutation, &str)> = vec![
        (|p| p.width = Some(0), "width"),
        (|p| p.height = Some(100_000), "height"),
        (|p| p.width = Some(68), "multiple of 8"),
        (|p| p.steps = 0, "steps"),
        (|p| p.strength = -0.1, "strength"),
        (|p| p.strength = 1.01, "strength"),
        (|p| p.cfg_scale = f64::INFINITY, "CFG"),
    ];
    for (mutate, needle) in cases {
        let mut p = params("x");
        mutate(&mut p);
        let err = generate(&model, &p, Some(&start_image(64, 64)), &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::InvalidParams(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}
