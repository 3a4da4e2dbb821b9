//! Weights a file stores in f16 or bf16 are kept so in memory on the CPU
//! (half the bytes) and widened for each call: every network must compute
//! exactly what it computes from the same values stored in f32.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use latent_studio::models::config_file::load_config;
use latent_studio::models::weights::{kept_dtype, SafeTensorsFile, WeightSet};
use latent_studio::networks::clip::{ClipTextConfig, ClipTextModel};
use latent_studio::networks::unet::{TextTimeConditioning, UNet2DConditionModel, UNetConfig};
use latent_studio::networks::vae::{AutoencoderKl, VaeConfig};
use latent_studio::testing::data_dir;

/// `src`'s tensors rounded to `half`, written twice: as `half` and as the
/// same values widened to f32. Returns (half file, f32 file).
fn rounded_copies(src: &Path, half: DType, dir: &Path) -> (PathBuf, PathBuf) {
    let tensors = candle_core::safetensors::load(src, &Device::Cpu).unwrap();
    let rounded: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, t)| (k, t.to_dtype(half).unwrap()))
        .collect();
    let wide: HashMap<String, Tensor> = rounded
        .iter()
        .map(|(k, t)| (k.clone(), t.to_dtype(DType::F32).unwrap()))
        .collect();
    let (h, w) = (dir.join("half.safetensors"), dir.join("wide.safetensors"));
    candle_core::safetensors::save(&rounded, &h).unwrap();
    candle_core::safetensors::save(&wide, &w).unwrap();
    (h, w)
}

/// A network's weights from one file, computing in f32 on the CPU.
fn f32_builder(path: &Path) -> candle_nn::VarBuilder<'static> {
    WeightSet::open(&[path.to_path_buf()])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu)
}

/// Build a network from the half file and from the f32 file, run `forward`
/// on both, and require identical bits.
fn same_bits<M>(src: &Path, build: impl Fn(&Path) -> M, forward: impl Fn(&M) -> Vec<Tensor>) {
    for half in [DType::F16, DType::BF16] {
        let dir = tempfile::tempdir().unwrap();
        let (h, w) = rounded_copies(src, half, dir.path());
        let from_half = forward(&build(&h));
        let from_wide = forward(&build(&w));
        for (a, b) in from_half.iter().zip(&from_wide) {
            assert_eq!(a.dtype(), DType::F32);
            let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{half:?} weights computed differently from their f32 values ({})",
                src.display()
            );
        }
    }
}

#[test]
fn half_weights_stay_half_on_the_cpu_only_when_computing_in_f32() {
    let cpu = Device::Cpu;
    assert_eq!(kept_dtype(DType::F16, DType::F32, &cpu), DType::F16);
    assert_eq!(kept_dtype(DType::BF16, DType::F32, &cpu), DType::BF16);
    assert_eq!(kept_dtype(DType::F32, DType::F32, &cpu), DType::F32);
    assert_eq!(kept_dtype(DType::F16, DType::F16, &cpu), DType::F16);
    assert_eq!(kept_dtype(DType::BF16, DType::F16, &cpu), DType::F16);
    assert_eq!(kept_dtype(DType::F32, DType::F16, &cpu), DType::F16);
    // Loaded through a network's VarBuilder, a stored f16 tensor stays f16.
    let dir = tempfile::tempdir().unwrap();
    let src = data_dir("unet/sd1/diffusion_pytorch_model.safetensors");
    let (h, _) = rounded_copies(&src, DType::F16, dir.path());
    let vb = WeightSet::open(&[h]).unwrap().var_builder(DType::F32, &cpu);
    let w = vb.get_unchecked("conv_in.weight").unwrap();
    assert_eq!(w.dtype(), DType::F16);
}

#[test]
fn the_unet_computes_half_weights_exactly_as_their_f32_values() {
    for case in ["sd1", "sdxl"] {
        let dir = data_dir("unet").join(case);
        let cfg = load_config::<UNetConfig>(&dir.join("config.json")).unwrap();
        let io = SafeTensorsFile::open(&dir.join("io.safetensors")).unwrap();
        let get = |k: &str| io.load(k, DType::F32, &Device::Cpu).unwrap();
        same_bits(
            &dir.join("diffusion_pytorch_model.safetensors"),
            |path| UNet2DConditionModel::new(f32_builder(path), &cfg).unwrap(),
            |unet| {
                let text_time = cfg.uses_text_time().then(|| TextTimeConditioning {
                    text_embeds: get("text_embeds"),
                    time_ids: get("time_ids"),
                });
                let t: Vec<f32> = get("timestep").to_vec1().unwrap();
                let out = unet
                    .forward(
                        &get("sample"),
                        t[0] as f64,
                        &get("context"),
                        text_time.as_ref(),
                    )
                    .unwrap();
                vec![out]
            },
        );
    }
}

#[test]
fn the_vae_computes_half_weights_exactly_as_their_f32_values() {
    let d = data_dir("vae_f8_oldnames");
    let cfg = load_config::<VaeConfig>(&d.join("config.json")).unwrap();
    let e = candle_core::safetensors::load(d.join("expected.safetensors"), &Device::Cpu).unwrap();
    same_bits(
        &d.join("diffusion_pytorch_model.safetensors"),
        |path| AutoencoderKl::new(f32_builder(path), &cfg).unwrap(),
        |vae| {
            let mean = vae.encode(&e["x"]).unwrap().sample(&e["noise"]).unwrap();
            vec![mean, vae.decode(&e["z"]).unwrap()]
        },
    );
}

#[test]
fn clip_computes_half_weights_exactly_as_their_f32_values() {
    let d = data_dir("clip_gelu_proj");
    let cfg = load_config::<ClipTextConfig>(&d.join("config.json")).unwrap();
    let e = candle_core::safetensors::load(d.join("expected.safetensors"), &Device::Cpu).unwrap();
    let ids = e["input_ids"].to_dtype(DType::U32).unwrap();
    same_bits(
        &d.join("model.safetensors"),
        |path| ClipTextModel::new(f32_builder(path), &cfg, true).unwrap(),
        |clip| {
            let out = clip.forward(&ids).unwrap();
            vec![out.last_hidden_state, out.penultimate, out.pooled]
        },
    );
}
