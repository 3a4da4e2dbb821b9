//! Our pipeline reproduces diffusers' `StableDiffusionPipeline` and
//! `StableDiffusionXLPipeline` images for the same weights, prompt, seed and
//! sampler (references written by scripts/reference/pipeline.py and
//! pipeline_sdxl.py with a CPU `torch.Generator`).

mod common;

use std::path::{Path, PathBuf};

use candle_core::Device;
use latent_studio::diffusion::pipeline::generate;
use latent_studio::models::files::ModelFiles;
use latent_studio::models::source::ModelSource;
use latent_studio::models::stable_diffusion::StableDiffusion;
use latent_studio::sampling::schedulers::SamplerKind;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A committed fixture without its vocabulary, completed from assets/.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(name);
    copy_dir(&manifest.join("tests/data").join(name), &root);
    for tokenizer in ["tokenizer", "tokenizer_2"] {
        if root.join(tokenizer).is_dir() {
            for f in ["vocab.json", "merges.txt"] {
                let from = manifest.join("assets").join(f);
                std::fs::copy(from, root.join(tokenizer).join(f)).unwrap();
            }
        }
    }
    (tmp, root)
}

fn check(case: &str, sampler: SamplerKind) {
    check_in("sd1-tiny", case, sampler)
}

fn check_in(fixture_name: &str, case: &str, sampler: SamplerKind) {
    let (_tmp, root) = fixture(fixture_name);
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("reference_images.json")).unwrap())
            .unwrap();
    let r = &refs[case];
    let files = ModelFiles::resolve(&ModelSource::Folder(root.clone()), false).unwrap();
    let model = StableDiffusion::load(files, &Device::Cpu, &mut |_, _| {}).unwrap();
    let params = common::reference_params(r, sampler);
    let out = generate(&model, &params, None, &mut |_| true).unwrap();
    let (max, mean) = common::pixel_diff(out.image.as_raw(), &common::reference_pixels(r));
    assert!(
        max <= 2 && mean < 0.1,
        "{case}: max diff {max}, mean diff {mean}"
    );
}

#[test]
fn ddim_matches_diffusers() {
    check("ddim", SamplerKind::Ddim);
}

#[test]
fn euler_ancestral_matches_diffusers_including_its_noise() {
    check("euler_a", SamplerKind::EulerAncestral);
}

#[test]
fn dpmpp_2m_karras_matches_diffusers() {
    check("dpmpp_2m_karras", SamplerKind::DpmPp2MKarras);
}

#[test]
fn sdxl_euler_with_zeroed_empty_negative_matches_diffusers() {
    check_in("sdxl-tiny", "euler", SamplerKind::Euler);
}

#[test]
fn sdxl_ddim_with_negative_prompt_and_portrait_size_matches_diffusers() {
    check_in("sdxl-tiny", "ddim_negative", SamplerKind::Ddim);
}

#[test]
fn sdxl_without_guidance_matches_diffusers() {
    check_in("sdxl-tiny", "euler_a_no_cfg", SamplerKind::EulerAncestral);
}
