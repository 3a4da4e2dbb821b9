//! CLIP text encoder against transformers' outputs on tiny random models
//! (scripts/reference/clip_ref.py). clip_quick_gelu is a bare CLIPTextModel
//! saved by transformers 5 (no `text_model.` prefix); clip_gelu_proj has the
//! prefix, like real checkpoints.

use candle_core::{DType, Device, Tensor};
use latent_studio::models::config_file::load_config;
use latent_studio::models::weights::WeightSet;
use latent_studio::networks::clip::{ClipTextConfig, ClipTextModel, HiddenAct};
use latent_studio::testing::{data_dir, max_abs_diff};

fn check(name: &str, with_projection: bool, act: HiddenAct) {
    let d = data_dir(name);
    let dev = Device::Cpu;
    let cfg = load_config::<ClipTextConfig>(&d.join("config.json")).unwrap();
    assert_eq!(cfg.hidden_act, act);
    let vb = WeightSet::open(&[d.join("model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &dev);
    let model = ClipTextModel::new(vb, &cfg, with_projection).unwrap();

    let expected = candle_core::safetensors::load(d.join("expected.safetensors"), &dev).unwrap();
    let ids = expected["input_ids"].to_dtype(DType::U32).unwrap();
    let out = model.forward(&ids).unwrap();
    for (key, got) in [
        ("last_hidden_state", &out.last_hidden_state),
        ("penultimate", &out.penultimate),
        ("pooled", &out.pooled),
    ] {
        let diff = max_abs_diff(got, &expected[key]);
        println!("{name} {key}: max abs diff {diff:e}");
        assert!(diff < 1e-4, "{name} {key}: max abs diff {diff}");
    }
}

#[test]
fn text_model_quick_gelu_matches_transformers() {
    check("clip_quick_gelu", false, HiddenAct::QuickGelu);
}

#[test]
fn text_model_with_projection_gelu_matches_transformers() {
    check("clip_gelu_proj", true, HiddenAct::Gelu);
}

#[test]
fn shorter_sequences_work() {
    let d = data_dir("clip_quick_gelu");
    let dev = Device::Cpu;
    let cfg = load_config::<ClipTextConfig>(&d.join("config.json")).unwrap();
    let vb = WeightSet::open(&[d.join("model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &dev);
    let model = ClipTextModel::new(vb, &cfg, false).unwrap();
    let expected = candle_core::safetensors::load(d.join("expected.safetensors"), &dev).unwrap();
    let ids = expected["input_ids"].to_dtype(DType::U32).unwrap();
    // Causal attention: the first 12 positions do not depend on later tokens,
    // and row 0's EOS (at 10) lies within them.
    let short = model.forward(&ids.narrow(1, 0, 12).unwrap()).unwrap();
    let full = model.forward(&ids).unwrap();
    let a = full.last_hidden_state.narrow(1, 0, 12).unwrap();
    assert!(max_abs_diff(&short.last_hidden_state, &a) < 1e-5);
    let p = |t: &Tensor| t.narrow(0, 0, 1).unwrap();
    assert!(max_abs_diff(&p(&short.pooled), &p(&full.pooled)) < 1e-5);
    // Too long is an error, not a panic.
    let long = Tensor::zeros((1, 78), DType::U32, &dev).unwrap();
    assert!(model.forward(&long).is_err());
}

#[test]
fn config_errors_are_bad_config() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("config.json");
    std::fs::write(&p, r#"{"hidden_act": "swish"}"#).unwrap();
    let err = load_config::<ClipTextConfig>(&p).unwrap_err();
    assert!(
        matches!(err, latent_studio::Error::BadConfig { .. }),
        "{err}"
    );
    std::fs::write(&p, r#"{"hidden_size": 30, "num_attention_heads": 4}"#).unwrap();
    assert!(load_config::<ClipTextConfig>(&p).is_err());
    // Unknown keys are ignored, defaults are transformers'.
    std::fs::write(
        &p,
        r#"{"foo": 1, "hidden_size": 768, "num_attention_heads": 12}"#,
    )
    .unwrap();
    let cfg = load_config::<ClipTextConfig>(&p).unwrap();
    assert_eq!((cfg.vocab_size, cfg.num_hidden_layers), (49408, 12));
}

#[test]
fn missing_tensor_is_an_error() {
    let d = data_dir("clip_quick_gelu");
    let cfg = load_config::<ClipTextConfig>(&d.join("config.json")).unwrap();
    let vb = WeightSet::open(&[d.join("model.safetensors")])
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu);
    // This file has no text_projection.
    assert!(ClipTextModel::new(vb, &cfg, true).is_err());
}

#[test]
fn runs_in_f16() {
    let d = data_dir("clip_gelu_proj");
    let dev = Device::Cpu;
    let cfg = load_config::<ClipTextConfig>(&d.join("config.json")).unwrap();
    let vb = WeightSet::open(&[d.join("model.safetensors")])
        .unwrap()
        .var_builder(DType::F16, &dev);
    let model = ClipTextModel::new(vb, &cfg, true).unwrap();
    let expected = candle_core::safetensors::load(d.join("expected.safetensors"), &dev).unwrap();
    let out = model.forward(&expected["input_ids"]).unwrap();
    assert_eq!(out.last_hidden_state.dtype(), DType::F16);
    let got = out.pooled.to_dtype(DType::F32).unwrap();
    assert!(max_abs_diff(&got, &expected["pooled"]) < 2e-2);
}
