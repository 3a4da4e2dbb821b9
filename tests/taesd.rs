//! The TAESD preview decoder matches diffusers' `AutoencoderTiny.decode`
//! (tiny random model written by scripts/reference/taesd.py).

use candle_core::{DType, Device};
use latent_studio::models::config_file::load_config;
use latent_studio::models::weights::{SafeTensorsFile, WeightSet};
use latent_studio::networks::taesd::{TinyDecoder, TinyDecoderConfig};

#[test]
fn decoder_matches_diffusers() {
    let dir = latent_studio::testing::data_dir("taesd");
    let cfg = load_config::<TinyDecoderConfig>(&dir.join("config.json")).unwrap();
    let vb = WeightSet::open(&[dir.join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu);
    let decoder = TinyDecoder::new(vb, &cfg).unwrap();
    let io = SafeTensorsFile::open(&dir.join("io.safetensors")).unwrap();
    let latents = io.load("latents", DType::F32, &Device::Cpu).unwrap();
    let expected = io.load("image", DType::F32, &Device::Cpu).unwrap();
    let ours = decoder.decode(&latents).unwrap();
    assert_eq!(ours.dims(), expected.dims());
    let diff: f32 = (ours - expected)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(diff < 1e-4, "max abs diff {diff}");
}
