//! Random-weight models of real shapes, for tests and benchmarks (no model
//! weights can be downloaded there).
//!
//! A model is built once against a recording backend that hands out
//! zero-cost broadcast tensors and remembers every name and shape asked for;
//! then the weights are generated tensor by tensor while the `.safetensors`
//! file is written, so even a 3.4 GB U-Net never sits in memory.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use safetensors::tensor::{Dtype, View};

use crate::error::{Error, Result};

#[derive(Default)]
struct Recorder {
    shapes: Mutex<BTreeMap<String, Vec<usize>>>,
}

impl SimpleBackend for Recorder {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Ok(mut m) = self.shapes.lock() {
            m.insert(name.to_string(), shape.dims().to_vec());
        }
        Tensor::zeros((), dtype, dev)?.broadcast_as(shape)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// One tensor whose bytes are generated when the writer asks for them.
struct RandomTensor {
    shape: Vec<usize>,
    seed: u64,
    kind: Fill,
    half: bool,
}

#[derive(Clone, Copy)]
enum Fill {
    /// Norm scales: 1 (plus a little noise so a wrong key shows).
    One,
    /// Biases and other 1-D tensors: small values.
    Small,
    /// Weight matrices and kernels: uniform ±1/√fan_in, like PyTorch's init.
    FanIn(f32),
}

impl View for &RandomTensor {
    fn dtype(&self) -> Dtype {
        if self.half {
            Dtype::F16
        } else {
            Dtype::F32
        }
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let n: usize = self.shape.iter().product();
        let mut state = self.seed | 1;
        let mut bytes = Vec::with_capacity(self.data_len());
        for _ in 0..n {
            // xorshift64*: fast, and good enough for weights nobody looks at.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
            let u = r * 2.0 - 1.0;
            let v = match self.kind {
                Fill::One => 1.0 + 0.1 * u,
                Fill::Small => 0.05 * u,
                Fill::FanIn(b) => b * u,
            };
            if self.half {
                bytes.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
            } else {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        Cow::Owned(bytes)
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * if self.half { 2 } else { 4 }
    }
}

/// Build a model with `build` to learn its tensors, then write random f32
/// weights for exactly those tensors to `path`. Returns the parameter count.
pub fn write_random_weights<T, E: Into<Error>>(
    path: &Path,
    seed: u64,
    build: impl FnOnce(VarBuilder<'static>) -> std::result::Result<T, E>,
) -> Result<usize> {
    write_random_weights_in(path, seed, DType::F32, build)
}

/// [`write_random_weights`] in `dtype` (f32, or f16 as most published
/// checkpoints are).
pub fn write_random_weights_in<T, E: Into<Error>>(
    path: &Path,
    seed: u64,
    dtype: DType,
    build: impl FnOnce(VarBuilder<'static>) -> std::result::Result<T, E>,
) -> Result<usize> {
    let half = match dtype {
        DType::F32 => false,
        DType::F16 => true,
        other => {
            return Err(Error::InvalidParams(format!(
                "random weights are written in f32 or f16, not {other:?}"
            )))
        }
    };
    let recorder = std::sync::Arc::new(Recorder::default());
    let backend: Box<dyn SimpleBackend> = Box::new(SharedRecorder(recorder.clone()));
    let vb = VarBuilder::from_backend(backend, DType::F32, Device::Cpu);
    drop(build(vb).map_err(Into::into)?);
    let shapes = recorder
        .shapes
        .lock()
        .map_err(|_| Error::InvalidParams("recorder poisoned".into()))?
        .clone();
    let tensors: Vec<(String, RandomTensor)> = shapes
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let kind = if shape.len() == 1 {
                if name.ends_with(".weight") {
                    Fill::One
                } else {
                    Fill::Small
                }
            } else {
                let fan_in: usize = shape[1..].iter().product();
                Fill::FanIn(1.0 / (fan_in.max(1) as f32).sqrt())
            };
            let seed = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(i as u64 + 1);
            (
                name,
                RandomTensor {
                    shape,
                    seed,
                    kind,
                    half,
                },
            )
        })
        .collect();
    let count = tensors
        .iter()
        .map(|(_, t)| t.shape.iter().product::<usize>())
        .sum();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    safetensors::tensor::serialize_to_file(
        tensors.iter().map(|(n, t)| (n.as_str(), t)),
        None,
        path,
    )
    .map_err(|e| Error::BadWeights {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(count)
}

struct SharedRecorder(std::sync::Arc<Recorder>);

impl SimpleBackend for SharedRecorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get(s, name, h, dtype, dev)
    }
    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.get_unchecked(name, dtype, dev)
    }
    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}
