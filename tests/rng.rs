//! `TorchCpuRng` against values pinned from real PyTorch
//! (scripts/reference/torch_randn.py -> tests/data/torch_randn.json).

use latent_studio::sampling::rng::{noise_source, randn_tensor, NoiseSource, RngKind, TorchCpuRng};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("data/torch_randn.json");
    serde_json::from_str(text).expect("valid reference json")
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Same fingerprint as the python script: sum_i bits[i] * (i + 1) mod 2^64.
fn fingerprint(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |acc, (i, v)| {
        acc.wrapping_add((v.to_bits() as u64).wrapping_mul(i as u64 + 1))
    })
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn successive_draws_match_torch_bit_for_bit() {
    let doc = reference();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let seed = case["seed"].as_u64().unwrap();
        let dtype = case["dtype"].as_str().unwrap();
        let mut rng = match dtype {
            "float32" => TorchCpuRng::new(seed),
            "float16" => TorchCpuRng::new_f16(seed),
            other => panic!("unexpected dtype {other}"),
        };
        for (k, draw) in case["draws"].as_array().unwrap().iter().enumerate() {
            let n = draw["numel"].as_u64().unwrap() as usize;
            let got = rng.randn(n);
            assert_eq!(got.len(), n);
            let ctx = format!("{dtype} seed {seed}, draw #{k} (numel {n})");
            if let Some(all) = draw.get("bits") {
                assert_eq!(bits(&got), u32s(all), "{ctx}");
            } else {
                assert_eq!(bits(&got[..8]), u32s(&draw["first_bits"]), "{ctx} head");
                assert_eq!(bits(&got[n - 8..]), u32s(&draw["last_bits"]), "{ctx} tail");
                let want: u64 = draw["fingerprint"].as_str().unwrap().parse().unwrap();
                assert_eq!(fingerprint(&got), want, "{ctx} fingerprint");
            }
            let sum: f64 = got.iter().map(|&v| v as f64).sum();
            let want_sum = draw["sum"].as_f64().unwrap();
            assert!(
                (sum - want_sum).abs() <= 1e-9 * (1.0 + want_sum.abs()),
                "{ctx} sum"
            );
        }
    }
}

#[test]
fn seed_zero_first_values() {
    // torch.manual_seed(0); torch.randn(16)[:4]
    let doc = reference();
    let want: Vec<f32> = doc["global_seed0_randn16_first4"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let got = TorchCpuRng::new(0).randn(16);
    assert_eq!(&got[..4], &want[..]);
    assert_eq!(got[0], -1.125_839_8);
}

#[test]
fn noise_source_and_tensor_helper_follow_the_same_stream() {
    let mut boxed = noise_source(RngKind::TorchCpu, 42);
    let t = randn_tensor(boxed.as_mut(), &[1, 4, 8, 8], &candle_core::Device::Cpu).unwrap();
    assert_eq!(t.dims(), &[1, 4, 8, 8]);
    assert_eq!(t.dtype(), candle_core::DType::F32);
    let flat: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(flat, TorchCpuRng::new(42).randn(256));
}

/// Deep check over every lane pattern: compare against a raw dump of a large
/// `torch.randn`, written by
/// `python scripts/reference/torch_randn.py --dump 16777216 5 /tmp/randn.f32`.
/// Run with `TORCH_RANDN_DUMP=/tmp/randn.f32 TORCH_RANDN_SEED=5 cargo test --test rng -- --ignored`
/// (add `TORCH_RANDN_DTYPE=float16` for a dump made with a trailing `float16`).
#[test]
#[ignore = "needs a torch dump file"]
fn matches_large_torch_dump() {
    let path = std::env::var("TORCH_RANDN_DUMP").expect("TORCH_RANDN_DUMP");
    let seed: u64 = std::env::var("TORCH_RANDN_SEED").map_or(5, |s| s.parse().unwrap());
    let half = std::env::var("TORCH_RANDN_DTYPE").is_ok_and(|d| d == "float16");
    let raw = std::fs::read(path).unwrap();
    let want: Vec<u32> = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut rng = if half {
        TorchCpuRng::new_f16(seed)
    } else {
        TorchCpuRng::new(seed)
    };
    let got = rng.randn(want.len());
    let mismatches: Vec<usize> = (0..want.len())
        .filter(|&i| got[i].to_bits() != want[i])
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ, first at {:?}",
        mismatches.len(),
        want.len(),
        mismatches
            .iter()
            .take(5)
            .map(|&i| (i, got[i], f32::from_bits(want[i])))
            .collect::<Vec<_>>()
    );
}
