//! The U-Net matches diffusers' `UNet2DConditionModel` on tiny random models
//! (written by scripts/reference/unet.py) in the SD1, SD2 and SDXL layouts.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use latent_studio::models::config_file::load_config;
use latent_studio::models::weights::{SafeTensorsFile, WeightSet};
use latent_studio::networks::unet::{TextTimeConditioning, UNet2DConditionModel, UNetConfig};

fn case_dir(name: &str) -> PathBuf {
    latent_studio::testing::data_dir("unet").join(name)
}

fn run_case(name: &str) -> f32 {
    let dir = case_dir(name);
    let dev = Device::Cpu;
    let cfg = load_config::<UNetConfig>(&dir.join("config.json")).unwrap();
    let vb = WeightSet::open(&[dir.join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &dev);
    let unet = UNet2DConditionModel::new(vb, &cfg).unwrap();

    let io = SafeTensorsFile::open(&dir.join("io.safetensors")).unwrap();
    let get = |k: &str| io.load(k, DType::F32, &dev).unwrap();
    let t: Vec<f32> = get("timestep").to_vec1().unwrap();
    let text_time = cfg.uses_text_time().then(|| TextTimeConditioning {
        text_embeds: get("text_embeds"),
        time_ids: get("time_ids"),
    });
    let out = unet
        .forward(
            &get("sample"),
            t[0] as f64,
            &get("context"),
            text_time.as_ref(),
        )
        .unwrap();
    let expected: Tensor = get("output");
    assert_eq!(out.dims(), expected.dims());
    (out - expected)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn sd1_layout_matches_diffusers() {
    let diff = run_case("sd1");
    assert!(diff < 1e-4, "max abs diff {diff}");
}

#[test]
fn sd2_layout_matches_diffusers() {
    let diff = run_case("sd2");
    assert!(diff < 1e-4, "max abs diff {diff}");
}

#[test]
fn sdxl_layout_with_text_time_matches_diffusers() {
    let diff = run_case("sdxl");
    assert!(diff < 1e-4, "max abs diff {diff}");
}

#[test]
fn sdxl_unet_without_conditioning_is_an_error_not_a_panic() {
    let dir = case_dir("sdxl");
    let cfg = load_config::<UNetConfig>(&dir.join("config.json")).unwrap();
    let vb = WeightSet::open(&[dir.join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu);
    let unet = UNet2DConditionModel::new(vb, &cfg).unwrap();
    let x = Tensor::zeros((1, 4, 8, 8), DType::F32, &Device::Cpu).unwrap();
    let ctx = Tensor::zeros((1, 3, 20), DType::F32, &Device::Cpu).unwrap();
    let err = unet.forward(&x, 10.0, &ctx, None).unwrap_err();
    assert!(err.to_string().contains("SDXL conditioning"), "{err}");
}

#[test]
fn weights_that_disagree_with_the_config_are_rejected() {
    let dir = case_dir("sd2");
    let mut cfg = load_config::<UNetConfig>(&dir.join("config.json")).unwrap();
    cfg.block_out_channels = vec![8, 32];
    let vb = WeightSet::open(&[dir.join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu);
    let err = UNet2DConditionModel::new(vb, &cfg)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("shape"), "{err}");
}
