//! Samplers against full diffusers sampling loops pinned by
//! scripts/reference/schedulers.py (tests/data/schedulers.json), plus
//! robustness checks.

use candle_core::{DType, Device, Tensor};
use latent_studio::sampling::rng::{randn_tensor, NoiseSource, TorchCpuRng};
use latent_studio::sampling::schedulers::{
    alphas_cumprod, build_scheduler, img2img_start_step, PredictionType, SamplerKind, Scheduler,
    SchedulerConfig, TimestepSpacing,
};
use latent_studio::Error;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("data/schedulers.json")).expect("valid reference json")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The deterministic stand-in for a U-Net used by the reference script.
fn fake_model(x: &Tensor, t: f64) -> Tensor {
    let a = x.sin().unwrap().affine(0.8, 0.0).unwrap();
    let b = x.affine(0.05 * (t / 300.0).cos(), 0.0).unwrap();
    (a + b).unwrap()
}

struct Run {
    timesteps: Vec<f64>,
    init_noise_sigma: f64,
    start: usize,
    start_sample: Vec<f32>,
    pred_original: Vec<(f64, f64)>,
    final_sample: Vec<f32>,
}

/// The same loop as diffusers' pipelines: start noise from the seeded
/// generator, which ancestral samplers then keep drawing from. With
/// `strength < 1` it is the img2img loop: a random "clean" latent is noised
/// to the first remaining step with a second draw.
fn run(
    kind: SamplerKind,
    cfg: &SchedulerConfig,
    steps: usize,
    seed: u64,
    shape: &[usize],
    strength: f64,
) -> Run {
    let mut sched = build_scheduler(kind, cfg, steps).unwrap();
    let mut rng = TorchCpuRng::new(seed);
    let init = sched.init_noise_sigma();
    let start = img2img_start_step(steps, strength);
    let mut latents = if strength < 1.0 {
        let x0 = randn_tensor(&mut rng, shape, &Device::Cpu).unwrap();
        let noise = randn_tensor(&mut rng, shape, &Device::Cpu).unwrap();
        sched.add_noise(&x0, &noise, start).unwrap()
    } else {
        randn_tensor(&mut rng, shape, &Device::Cpu)
            .unwrap()
            .affine(init, 0.0)
            .unwrap()
    };
    let start_sample = latents.flatten_all().unwrap().to_vec1().unwrap();
    let timesteps = sched.timesteps().to_vec();
    let mut pred_original = Vec::new();
    for (i, &t) in timesteps.iter().enumerate().skip(start) {
        let x_in = sched.scale_model_input(&latents, i).unwrap();
        let out = fake_model(&x_in, t);
        let step = sched.step(&out, i, &latents, &mut rng).unwrap();
        let x0: Vec<f32> = step.pred_original.flatten_all().unwrap().to_vec1().unwrap();
        pred_original.push((x0.iter().map(|&v| v as f64).sum(), x0[0] as f64));
        latents = step.prev_sample;
    }
    Run {
        timesteps,
        init_noise_sigma: init,
        start,
        start_sample,
        pred_original,
        final_sample: latents.flatten_all().unwrap().to_vec1().unwrap(),
    }
}

#[test]
fn sampling_loops_match_diffusers() {
    let doc = reference();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "reference has {} cases", cases.len());
    let mut worst = (0.0f64, String::new());
    for case in cases {
        let label = case["label"].as_str().unwrap();
        let kind: SamplerKind = case["sampler"].as_str().unwrap().parse().unwrap();
        let cfg: SchedulerConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let steps = case["steps"].as_u64().unwrap() as usize;
        let seed = case["seed"].as_u64().unwrap();
        let shape: Vec<usize> = f64s(&case["shape"]).iter().map(|&v| v as usize).collect();
        let strength = case["strength"].as_f64().unwrap();
        let got = run(kind, &cfg, steps, seed, &shape, strength);
        assert_eq!(
            got.start as u64,
            case["start_step"].as_u64().unwrap(),
            "{label}: start"
        );
        let start_sum: f64 = got.start_sample.iter().map(|&v| v as f64).sum();
        let want_start_sum = case["start_sum"].as_f64().unwrap();
        assert!(
            (start_sum - want_start_sum).abs() <= 1e-5 * (1.0 + want_start_sum.abs()),
            "{label}: start latents sum {start_sum} vs {want_start_sum}"
        );
        for (g, w) in got.start_sample.iter().zip(f64s(&case["start_head"])) {
            assert!(
                (*g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{label}: start {g} vs {w}"
            );
        }

        // Integer timesteps must agree exactly; fractional ones (Euler on
        // Karras sigmas) go through log/pow and may differ in the last f32 ulp.
        let want_ts = f64s(&case["timesteps"]);
        assert_eq!(
            got.timesteps.len(),
            want_ts.len(),
            "{label}: timestep count"
        );
        for (g, w) in got.timesteps.iter().zip(&want_ts) {
            if cfg.use_karras_sigmas && kind == SamplerKind::Euler {
                assert!(
                    (g - w).abs() <= 1e-6 * w.max(1.0),
                    "{label}: timestep {g} vs {w}"
                );
            } else {
                assert_eq!(
                    g, w,
                    "{label}: timesteps {:?} vs {want_ts:?}",
                    got.timesteps
                );
            }
        }
        let want_init = case["init_noise_sigma"].as_f64().unwrap();
        assert!(
            (got.init_noise_sigma - want_init).abs() <= 1e-6 * want_init,
            "{label}: init_noise_sigma {} vs {want_init}",
            got.init_noise_sigma
        );

        // Errors are judged against the size of the values involved; the
        // sums run over up to 256 elements.
        let scale = case["final_max_abs"].as_f64().unwrap().max(1.0);
        let n = got.final_sample.len() as f64;
        for (k, (step, want)) in got
            .pred_original
            .iter()
            .zip(case["pred_original"].as_array().unwrap())
            .enumerate()
        {
            let want = f64s(want);
            let tol_first = 1e-4 * want[1].abs().max(1.0);
            let tol_sum = 1e-4 * n * want[1].abs().max(1.0).max(want[0].abs() / n);
            let rel =
                ((step.1 - want[1]).abs() / tol_first).max((step.0 - want[0]).abs() / tol_sum);
            assert!(rel <= 1.0, "{label}: x0 at step {k}: {step:?} vs {want:?}");
        }
        for (i, want) in f64s(&case["final_head"]).iter().enumerate() {
            let err = (got.final_sample[i] as f64 - want).abs() / (1e-4 * scale);
            assert!(
                err <= 1.0,
                "{label}: final[{i}] {} vs {want}",
                got.final_sample[i]
            );
            if err > worst.0 {
                worst = (err, label.to_string());
            }
        }
        let sum: f64 = got.final_sample.iter().map(|&v| v as f64).sum();
        let abs_sum: f64 = got.final_sample.iter().map(|&v| (v as f64).abs()).sum();
        let want_abs = case["final_abs_sum"].as_f64().unwrap();
        assert!(
            (sum - case["final_sum"].as_f64().unwrap()).abs() <= 1e-4 * want_abs,
            "{label}: sum"
        );
        assert!(
            (abs_sum - want_abs).abs() <= 1e-4 * want_abs,
            "{label}: abs sum"
        );
    }
    eprintln!(
        "worst final-value error: {:.3} of tolerance ({})",
        worst.0, worst.1
    );
}

#[test]
fn alphas_cumprod_match_torch_bit_for_bit() {
    let doc = reference();
    for entry in doc["alphas_cumprod"].as_array().unwrap() {
        let cfg: SchedulerConfig = serde_json::from_value(entry["config"].clone()).unwrap();
        let ac = alphas_cumprod(&cfg);
        for (i, bits) in entry["index"]
            .as_array()
            .unwrap()
            .iter()
            .zip(entry["bits"].as_array().unwrap())
        {
            let i = i.as_u64().unwrap() as usize;
            assert_eq!(
                (ac[i] as f32).to_bits(),
                bits.as_u64().unwrap() as u32,
                "{cfg:?} [{i}]"
            );
        }
    }
}

fn configs() -> Vec<SchedulerConfig> {
    let sd15 = SchedulerConfig::default();
    vec![
        sd15.clone(),
        SchedulerConfig {
            prediction_type: PredictionType::VPrediction,
            timestep_spacing: TimestepSpacing::Trailing,
            ..sd15.clone()
        },
        SchedulerConfig {
            timestep_spacing: TimestepSpacing::Linspace,
            use_karras_sigmas: true,
            steps_offset: 0,
            ..sd15
        },
    ]
}

#[test]
fn every_sampler_runs_1_to_50_steps_without_nan() {
    let mut rng = TorchCpuRng::new(1);
    for cfg in configs() {
        for &kind in SamplerKind::ALL {
            for steps in 1..=50 {
                let mut sched = build_scheduler(kind, &cfg, steps).unwrap();
                assert_eq!(sched.timesteps().len(), steps, "{kind} {steps}");
                let mut x = randn_tensor(&mut rng, &[1, 4, 4, 4], &Device::Cpu)
                    .unwrap()
                    .affine(sched.init_noise_sigma(), 0.0)
                    .unwrap();
                for i in 0..steps {
                    let t = sched.timesteps()[i];
                    assert!(
                        t.is_finite() && (0.0..1000.0).contains(&t),
                        "{kind} {steps}: t={t}"
                    );
                    let x_in = sched.scale_model_input(&x, i).unwrap();
                    let out = fake_model(&x_in, t);
                    let s = sched.step(&out, i, &x, &mut rng).unwrap();
                    x = s.prev_sample;
                    let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
                    assert!(
                        v.iter().all(|v| v.is_finite()),
                        "{kind} {steps} step {i}: {cfg:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn schedulers_are_send_and_reject_zero_steps() {
    fn assert_send<T: Send>(_: &T) {}
    let cfg = SchedulerConfig::default();
    for &kind in SamplerKind::ALL {
        let sched: Box<dyn Scheduler> = build_scheduler(kind, &cfg, 10).unwrap();
        assert_send(&sched);
        assert!(matches!(
            build_scheduler(kind, &cfg, 0),
            Err(Error::InvalidParams(_))
        ));
    }
    // LCM was distilled for at most original_inference_steps.
    assert!(matches!(
        build_scheduler(SamplerKind::Lcm, &cfg, 51),
        Err(Error::InvalidParams(_))
    ));
}

#[test]
fn f16_samples_stay_f16() {
    let cfg = SchedulerConfig::default();
    let mut rng = TorchCpuRng::new(3);
    for &kind in SamplerKind::ALL {
        let mut sched = build_scheduler(kind, &cfg, 4).unwrap();
        let x = randn_tensor(&mut rng, &[1, 4, 4, 4], &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap();
        let out = fake_model(&x.to_dtype(DType::F32).unwrap(), 999.0)
            .to_dtype(DType::F16)
            .unwrap();
        let s = sched.step(&out, 0, &x, &mut rng).unwrap();
        assert_eq!(s.prev_sample.dtype(), DType::F16, "{kind}");
        assert_eq!(s.pred_original.dtype(), DType::F16, "{kind}");
    }
}

#[test]
fn img2img_start_and_add_noise() {
    assert_eq!(img2img_start_step(20, 0.6), 8);
    assert_eq!(img2img_start_step(4, 0.5), 2);
    let cfg = SchedulerConfig::default();
    let x0 = Tensor::ones((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let noise = Tensor::zeros((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
    for &kind in SamplerKind::ALL {
        let sched = build_scheduler(kind, &cfg, 20).unwrap();
        let start = img2img_start_step(20, 0.6);
        let noisy = sched.add_noise(&x0, &noise, start).unwrap();
        let v: Vec<f32> = noisy.flatten_all().unwrap().to_vec1().unwrap();
        // With zero noise the result is the signal scale at that level, in (0, 1].
        assert!(v.iter().all(|&v| v > 0.0 && v <= 1.0), "{kind}: {v:?}");
    }
}

#[test]
fn config_reads_diffusers_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduler_config.json");
    std::fs::write(
        &path,
        r#"{"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0",
            "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
            "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
            "steps_offset": 1, "trained_betas": null, "clip_sample": false,
            "prediction_type": "v_prediction"}"#,
    )
    .unwrap();
    let cfg = SchedulerConfig::from_json_file(&path).unwrap();
    assert_eq!(cfg.prediction_type, PredictionType::VPrediction);
    assert_eq!(cfg.timestep_spacing, TimestepSpacing::Leading);
    assert_eq!(cfg.steps_offset, 1);

    std::fs::write(&path, r#"{"beta_schedule": "sigmoid"}"#).unwrap();
    assert!(matches!(
        SchedulerConfig::from_json_file(&path),
        Err(Error::BadConfig { .. })
    ));
    let missing = dir.path().join("nope.json");
    assert!(matches!(
        SchedulerConfig::from_json_file(&missing),
        Err(Error::Io { .. })
    ));
}

#[test]
fn ancestral_samplers_consume_noise_and_deterministic_ones_do_not() {
    struct Counting(usize);
    impl NoiseSource for Counting {
        fn randn(&mut self, n: usize) -> Vec<f32> {
            self.0 += n;
            vec![0.0; n]
        }
    }
    let cfg = SchedulerConfig::default();
    let x = Tensor::ones((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
    for &kind in SamplerKind::ALL {
        let mut sched = build_scheduler(kind, &cfg, 3).unwrap();
        let mut counter = Counting(0);
        for i in 0..3 {
            sched.step(&x, i, &x, &mut counter).unwrap();
        }
        let expected = match kind {
            SamplerKind::EulerAncestral => 3 * 16,
            SamplerKind::Lcm => 2 * 16, // no fresh noise after the last step
            _ => 0,
        };
        assert_eq!(counter.0, expected, "{kind}");
    }
}
