//! The built-in emoji model (assets/mini-emoji): it loads through the normal
//! loader, reproduces diffusers' pinned output, draws what its prompt says,
//! shows true colours in its step previews, and ships small and licensed.

mod common;

use candle_core::Device;
use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::pipeline::{generate, Generated};
use latent_studio::models::builtin;
use latent_studio::models::files::ModelFiles;
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::StableDiffusion;
use latent_studio::networks::vae::LatentSpace;
use latent_studio::sampling::schedulers::SamplerKind;

use common::red_share;

fn load() -> StableDiffusion {
    let files = ModelFiles::resolve(&ModelSource::parse(builtin::ID), false)
        .expect("the built-in model is found through its id");
    assert_eq!(files.source, ModelSource::BuiltIn);
    StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {}).expect("it loads")
}

fn params(prompt: &str, seed: u64) -> GenerationParams {
    let d = GenerationParams::defaults_for(&ModelSource::BuiltIn);
    GenerationParams {
        prompt: prompt.into(),
        seed,
        ..d
    }
}

fn run(model: &StableDiffusion, p: &GenerationParams) -> Generated {
    generate(model, p, None, &mut |_| true).unwrap()
}

#[test]
fn matches_the_pinned_diffusers_output() {
    let model = load();
    let path = latent_studio::testing::data_dir("mini-emoji-reference.json");
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (case, sampler) in [
        ("red_heart_euler_a", SamplerKind::EulerAncestral),
        ("dog_face_dpmpp_2m", SamplerKind::DpmPp2M),
    ] {
        let r = &refs[case];
        let p = common::reference_params(r, sampler);
        let out = run(&model, &p);
        assert_eq!(out.image.dimensions(), (64, 64), "native size is used");
        let (max, mean) = common::pixel_diff(out.image.as_raw(), &common::reference_pixels(r));
        assert!(
            max <= 3 && mean < 0.1,
            "{case}: max diff {max}, mean diff {mean}"
        );
    }
}

#[test]
fn the_picture_follows_the_prompt() {
    let model = load();
    let heart = run(&model, &params("red heart", 0)).image;
    let dog = run(&model, &params("dog face", 0)).image;
    let heart_red = red_share(&heart);
    let dog_red = red_share(&dog);
    assert!(
        heart_red > 0.5,
        "red heart: only {heart_red:.2} of it is red"
    );
    assert!(dog_red < 0.2, "dog face: {dog_red:.2} of it is red");
    let diff: f64 = heart
        .as_raw()
        .iter()
        .zip(dog.as_raw())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / heart.as_raw().len() as f64;
    assert!(
        diff > 20.0,
        "the two prompts draw nearly the same image ({diff:.1})"
    );
}

#[test]
fn step_previews_show_true_colours() {
    let model = load();
    let sd_map = LatentSpace::Sd.latent_to_rgb();
    assert_ne!(
        model.preview_map, sd_map,
        "the model's own preview map is used"
    );
    assert!(
        model.preview_decoder.is_none(),
        "SD's TAESD does not fit this latent space"
    );
    let out = run(&model, &params("red heart", 3));
    let last = out.previews.last().unwrap();
    assert_eq!((last.width, last.height), (16, 16));
    // The last preview is the 4×4-pooled final image, up to the map's error.
    let pooled = image::imageops::resize(&out.image, 16, 16, image::imageops::FilterType::Triangle);
    let err: f64 = last
        .rgba
        .chunks(4)
        .zip(pooled.pixels())
        .map(|(p, q)| {
            (0..3)
                .map(|c| (p[c] as f64 - q.0[c] as f64).abs())
                .sum::<f64>()
                / 3.0
        })
        .sum::<f64>()
        / 256.0;
    assert!(
        err < 25.0,
        "preview differs from the image by {err:.1} per channel"
    );
}

#[test]
fn ships_small_in_f16_with_its_licenses() {
    let dir = builtin::folder().expect("assets/mini-emoji is found");
    let mut total = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                total += e.metadata().unwrap().len();
            }
        }
    }
    assert!(total <= 30_000_000, "{total} bytes");
    for weights in [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ] {
        let bytes = std::fs::read(dir.join(weights)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert!(
            st.tensors()
                .iter()
                .all(|(_, t)| t.dtype() == safetensors::Dtype::F16),
            "{weights} is not f16"
        );
    }
    for f in ["LICENSE", "NOTICE", "README.md", "vae/latent_preview.json"] {
        assert!(dir.join(f).is_file(), "{f} is missing");
    }
    let notice = std::fs::read_to_string(dir.join("NOTICE")).unwrap();
    for credit in ["Noto", "emoji-datasource", "emojibase", "CLDR", "CLIP"] {
        assert!(notice.contains(credit), "NOTICE does not credit {credit}");
    }
}

#[test]
fn its_defaults_are_the_native_size_and_tuned_settings() {
    let d = GenerationParams::defaults_for(&ModelSource::BuiltIn);
    assert_eq!(
        (d.steps, d.cfg_scale, d.sampler),
        (
            builtin::DEFAULTS.steps,
            builtin::DEFAULTS.cfg_scale,
            builtin::DEFAULTS.sampler
        )
    );
    assert_eq!(load().native_size(), builtin::DEFAULTS.size);
    assert_eq!(ModelSource::BuiltIn.to_string(), builtin::ID);
    assert_eq!(ModelSource::BuiltIn.display_name(), builtin::NAME);
}
