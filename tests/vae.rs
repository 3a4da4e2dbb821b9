//! VAE against diffusers' `AutoencoderKL` on tiny random models
//! (scripts/reference/vae_ref.py), plus an ignored SD 1.5-sized decode for
//! measuring memory and time.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use latent_studio::models::config_file::load_config;
use latent_studio::models::weights::WeightSet;
use latent_studio::networks::vae::{AutoencoderKl, VaeConfig};
use latent_studio::testing::{data_dir, max_abs_diff};

fn load(name: &str, dtype: DType) -> (AutoencoderKl, HashMap<String, Tensor>) {
    let d = data_dir(name);
    let dev = Device::Cpu;
    let cfg = load_config::<VaeConfig>(&d.join("config.json")).unwrap();
    let vb = WeightSet::open(&[d.join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(dtype, &dev);
    let vae = AutoencoderKl::new(vb, &cfg).unwrap();
    let expected = candle_core::safetensors::load(d.join("expected.safetensors"), &dev).unwrap();
    (vae, expected)
}

fn check(name: &str, factor: usize) {
    let (vae, e) = load(name, DType::F32);
    assert_eq!(vae.config().downscale_factor(), factor);
    let dist = vae.encode(&e["x"]).unwrap();
    let sample = dist.sample(&e["noise"]).unwrap();
    let decoded = vae.decode(&e["z"]).unwrap();
    for (key, got, tol) in [
        ("mean", &dist.mean, 1e-4),
        ("logvar", &dist.logvar, 1e-4),
        ("sample", &sample, 1e-4),
        ("decoded", &decoded, 1e-4),
    ] {
        let diff = max_abs_diff(got, &e[key]);
        println!("{name} {key}: max abs diff {diff:e}");
        assert!(diff < tol, "{name} {key}: max abs diff {diff}");
    }
}

#[test]
fn two_levels_match_diffusers() {
    check("vae_f2", 2);
}

#[test]
fn four_levels_old_attention_names_match_diffusers() {
    check("vae_f8_oldnames", 8);
}

#[test]
fn runs_in_f16() {
    let (vae, e) = load("vae_f2", DType::F16);
    let z = e["z"].to_dtype(DType::F16).unwrap();
    let decoded = vae.decode(&z).unwrap();
    assert_eq!(decoded.dtype(), DType::F16);
    assert!(max_abs_diff(&decoded, &e["decoded"]) < 5e-2);
    let x = e["x"].to_dtype(DType::F16).unwrap();
    let mean = vae.encode(&x).unwrap().mean;
    assert!(max_abs_diff(&mean, &e["mean"]) < 5e-2);
}

#[test]
fn config_parsing() {
    let cfg = load_config::<VaeConfig>(&data_dir("vae_f2").join("config.json")).unwrap();
    assert_eq!(cfg.block_out_channels, vec![32, 64]);
    assert_eq!(cfg.scaling_factor, 0.18215);
    assert_eq!(cfg.shift_factor, None);
    assert!(cfg.use_quant_conv && cfg.use_post_quant_conv && cfg.force_upcast);

    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("config.json");
    std::fs::write(
        &p,
        r#"{"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
            "scaling_factor": 0.13025, "shift_factor": 0.0609, "unknown": [1]}"#,
    )
    .unwrap();
    let cfg = load_config::<VaeConfig>(&p).unwrap();
    assert_eq!(
        (cfg.scaling_factor, cfg.shift_factor),
        (0.13025, Some(0.0609))
    );
    assert_eq!(cfg.downscale_factor(), 8);

    std::fs::write(&p, r#"{"up_block_types": ["AttnUpDecoderBlock2D"]}"#).unwrap();
    let err = load_config::<VaeConfig>(&p).unwrap_err();
    assert!(
        matches!(err, latent_studio::Error::BadConfig { .. }),
        "{err}"
    );
    std::fs::write(&p, r#"{"block_out_channels": [48], "norm_num_groups": 32}"#).unwrap();
    assert!(load_config::<VaeConfig>(&p).is_err());
}

#[test]
fn wrong_weights_are_an_error() {
    // f2 weights under the f8 config: shapes disagree.
    let cfg = load_config::<VaeConfig>(&data_dir("vae_f8_oldnames").join("config.json")).unwrap();
    let vb = WeightSet::open(&[data_dir("vae_f2").join("diffusion_pytorch_model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu);
    assert!(AutoencoderKl::new(vb, &cfg).is_err());
}

/// SD 1.5-shaped VAE with random weights, written to a temp dir and loaded
/// like a real one; decodes a 64×64 latent to 512×512 in f32. Run with
/// `/usr/bin/time -v cargo test --test vae -- --ignored --nocapture` to see
/// peak RSS; set `VAE_BENCH_ENCODE=1` to time a 512² encode as well.
#[test]
#[ignore]
fn sd15_decode_512() {
    let dev = Device::Cpu;
    let cfg: VaeConfig = serde_json::from_str(
        r#"{"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
            "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
            "sample_size": 512}"#,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("diffusion_pytorch_model.safetensors");
    {
        let varmap = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        AutoencoderKl::new(vb, &cfg).unwrap();
        varmap.save(&path).unwrap();
    }
    let vb = WeightSet::open(&[path])
        .unwrap()
        .var_builder(DType::F32, &dev);
    let vae = AutoencoderKl::new(vb, &cfg).unwrap();
    let z = Tensor::randn(0f32, 1., (1, 4, 64, 64), &dev).unwrap();
    let start = std::time::Instant::now();
    let img = vae.decode(&z).unwrap();
    println!("decode 64x64 -> 512x512: {:.2?}", start.elapsed());
    assert_eq!(img.dims(), &[1, 3, 512, 512]);
    let finite = img
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .is_finite();
    assert!(finite);
    if std::env::var_os("VAE_BENCH_ENCODE").is_some() {
        let start = std::time::Instant::now();
        let dist = vae.encode(&img.clamp(-1f32, 1f32).unwrap()).unwrap();
        println!("encode 512x512 -> 64x64: {:.2?}", start.elapsed());
        assert_eq!(dist.mean.dims(), &[1, 4, 64, 64]);
    }
}
