//! Reading `.safetensors` weights safely and without a VarMap.
//!
//! We parse and validate the header ourselves (size bounds, offsets inside the
//! file, no overlaps, known dtypes, byte counts matching shapes) before reading
//! anything, so a truncated or hostile file is an error, not a crash or a huge
//! allocation. Only then are tensors read, each with one positioned read
//! straight into its buffer (a warm second load reads nothing from disk),
//! and kept in the dtype [`kept_dtype`] picks: f16/bf16 files stay half
//! precision in memory when the CPU computes in f32.
//!
//! Networks get their tensors through a [`WeightSource`]: diffusers files
//! ([`WeightSet`], `set.rs`), or one checkpoint under other names
//! ([`RenamedTensors`], `renamed.rs`).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use crate::error::{Error, Result};

mod renamed;
mod set;

pub use renamed::{RenamedTensors, Stored};
pub use set::WeightSet;

/// A header larger than this is refused (real ones are well under 1 MiB).
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// Where one tensor lives in a file.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Element type as stored; `None` for a valid type we cannot compute with
    /// (an error only if that tensor is asked for).
    pub dtype: Option<DType>,
    /// The safetensors name of the element type (`F16`, `F8_E4M3`, ...).
    pub stored_as: String,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    pub offset: u64,
    /// Number of bytes of data.
    pub len: u64,
}

/// One validated `.safetensors` file, open for reading.
///
/// Tensors are read with positioned reads straight into their buffers, not
/// copied out of a memory map: a mapped file's pages count in the process's
/// resident memory while it is mapped, which doubled the peak of a load
/// (3.3 GiB for a 1.7 GB U-Net), and a file truncated under a mapping
/// kills the process with SIGBUS where a read returns an error.
#[derive(Debug)]
pub struct SafeTensorsFile {
    path: PathBuf,
    file: File,
    tensors: HashMap<String, TensorInfo>,
}

/// A safetensors element type: the candle type it is read as (`None` for
/// types a file may carry but Stable Diffusion never computes with, e.g. a
/// stray BOOL mask or FP8 copies), and its size in bytes. Unknown names are
/// refused.
fn parse_dtype(s: &str) -> Option<(Option<DType>, u64)> {
    Some(match s {
        "F32" => (Some(DType::F32), 4),
        "F16" => (Some(DType::F16), 2),
        "BF16" => (Some(DType::BF16), 2),
        "F64" => (Some(DType::F64), 8),
        "I64" => (Some(DType::I64), 8),
        "U32" => (Some(DType::U32), 4),
        "U8" => (Some(DType::U8), 1),
        "BOOL" | "I8" | "F8_E4M3" | "F8_E5M2" => (None, 1),
        "I16" | "U16" => (None, 2),
        "I32" => (None, 4),
        "U64" => (None, 8),
        _ => return None,
    })
}

/// File extensions of pickle (PyTorch `torch.save`) weights, lower case.
const PICKLE_EXTENSIONS: [&str; 5] = ["ckpt", "pt", "pth", "bin", "pkl"];

/// Whether `path` names pickle weights (`.ckpt`, `.pt`, `.pth`, `.bin`,
/// `.pkl`, any case): loading one can run arbitrary code, so every place
/// that meets a weights file refuses these by this one rule.
pub fn is_pickle(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|ext| {
            PICKLE_EXTENSIONS
                .iter()
                .any(|p| ext.eq_ignore_ascii_case(p))
        })
}

/// Whether `path` names weights of either kind: `.safetensors` or a pickle.
pub fn is_weights_file(path: &Path) -> bool {
    is_pickle(path)
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|ext| ext.eq_ignore_ascii_case("safetensors"))
}

impl SafeTensorsFile {
    /// Open `path` and validate its header against the file size.
    pub fn open(path: &Path) -> Result<Self> {
        if is_pickle(path) {
            return Err(Error::bad_weights(
                path,
                "pickle checkpoints can run arbitrary code when loaded and are refused; \
                 download the .safetensors version of this model instead",
            ));
        }
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::MissingFile {
                path: path.to_path_buf(),
                hint: "the weights file does not exist".into(),
            },
            _ => Error::io(path, e),
        })?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if file_len < 8 {
            return Err(Error::bad_weights(
                path,
                format!("file is only {file_len} bytes (truncated?)"),
            ));
        }
        let mut len_bytes = [0u8; 8];
        read_at(&file, &mut len_bytes, 0).map_err(|e| Error::io(path, e))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > MAX_HEADER_BYTES || header_len > file_len - 8 {
            return Err(Error::bad_weights(
                path,
                format!("header claims {header_len} bytes but the file has {file_len} (truncated or not a safetensors file)"),
            ));
        }
        let mut header = vec![0u8; header_len as usize];
        read_at(&file, &mut header, 8).map_err(|e| Error::io(path, e))?;
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| Error::bad_weights(path, format!("header is not valid JSON: {e}")))?;

        let data_start = 8 + header_len;
        let data_len = file_len - data_start;
        let mut tensors = HashMap::with_capacity(json.len());
        let mut ranges = Vec::with_capacity(json.len());
        for (name, value) in json {
            if name == "__metadata__" {
                continue;
            }
            let info =
                parse_entry(&name, &value, data_len).map_err(|r| Error::bad_weights(path, r))?;
            ranges.push((info.offset, info.offset + info.len, name.clone()));
            tensors.insert(
                name,
                TensorInfo {
                    offset: data_start + info.offset,
                    ..info
                },
            );
        }
        ranges.sort();
        for pair in ranges.windows(2) {
            if pair[1].0 < pair[0].1 {
                return Err(Error::bad_weights(
                    path,
                    format!("tensors {} and {} overlap", pair[0].2, pair[1].2),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            tensors,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names and layouts of every tensor in the file.
    pub fn tensors(&self) -> &HashMap<String, TensorInfo> {
        &self.tensors
    }

    /// Read one tensor for a network computing in `compute` on `device`, in
    /// the dtype [`kept_dtype`] picks.
    pub fn load_for_compute(&self, name: &str, compute: DType, device: &Device) -> Result<Tensor> {
        let stored = self.tensors.get(name).and_then(|info| info.dtype);
        let dtype = stored.map_or(compute, |s| kept_dtype(s, compute, device));
        self.load(name, dtype, device)
    }

    /// Read one tensor, converted to `dtype` on `device`.
    pub fn load(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::bad_weights(&self.path, format!("tensor {name} is missing")))?;
        let Some(stored) = info.dtype else {
            return Err(Error::bad_weights(
                &self.path,
                format!(
                    "tensor {name} is stored as {}, which cannot be computed with here",
                    info.stored_as
                ),
            ));
        };
        let read_err = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::bad_weights(
                &self.path,
                format!("tensor {name} ends past the end of the file (was it truncated?)"),
            ),
            _ => Error::io(&self.path, e),
        };
        let n = info.len as usize / stored.size_in_bytes();
        let t = match stored {
            DType::F16 => self
                .read_vec::<half::f16>(info.offset, n)
                .map(|v| Tensor::from_vec(v, n, &Device::Cpu)),
            DType::BF16 => self
                .read_vec::<half::bf16>(info.offset, n)
                .map(|v| Tensor::from_vec(v, n, &Device::Cpu)),
            DType::F32 => self
                .read_vec::<f32>(info.offset, n)
                .map(|v| Tensor::from_vec(v, n, &Device::Cpu)),
            _ => {
                let mut bytes = vec![0u8; info.len as usize];
                read_at(&self.file, &mut bytes, info.offset)
                    .map(|()| Tensor::from_raw_buffer(&bytes, stored, &[n], &Device::Cpu))
            }
        }
        .map_err(read_err)??;
        Ok(t.reshape(info.shape.as_slice())?
            .to_dtype(dtype)?
            .to_device(device)?)
    }

    /// `n` little-endian values of a plain numeric type at `offset`, read
    /// straight into their buffer (no second copy).
    fn read_vec<T: PlainNumber>(&self, offset: u64, n: usize) -> std::io::Result<Vec<T>> {
        let mut values = vec![T::default(); n];
        // SAFETY: `T` is a plain number type (every bit pattern is a valid
        // value, no padding), so its buffer may be filled as bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                values.as_mut_ptr().cast::<u8>(),
                n * std::mem::size_of::<T>(),
            )
        };
        read_at(&self.file, bytes, offset)?;
        Ok(values)
    }
}

/// The dtype a network's tensor is kept in: as stored when the file holds
/// f16 or bf16 and the network computes in f32 on the CPU (the layers widen
/// each weight for its call, see [`crate::networks::precision`]: half the
/// memory, the same results); otherwise the compute dtype.
pub fn kept_dtype(stored: DType, compute: DType, device: &Device) -> DType {
    let half = matches!(stored, DType::F16 | DType::BF16);
    if half && compute == DType::F32 && device.is_cpu() {
        stored
    } else {
        compute
    }
}

/// Element types whose every bit pattern is a value; safetensors stores
/// them little-endian, which is every platform we build for.
trait PlainNumber: Copy + Default {}
impl PlainNumber for half::f16 {}
impl PlainNumber for half::bf16 {}
impl PlainNumber for f32 {}
#[cfg(not(target_endian = "little"))]
compile_error!("safetensors weights are little-endian; a big-endian build would need a byte swap");

/// Validate one header entry; offsets are relative to the data section.
fn parse_entry(
    name: &str,
    value: &serde_json::Value,
    data_len: u64,
) -> std::result::Result<TensorInfo, String> {
    let dtype_str = value["dtype"].as_str().unwrap_or("");
    let (dtype, element_bytes) = parse_dtype(dtype_str)
        .ok_or_else(|| format!("tensor {name} has unsupported dtype {dtype_str:?}"))?;
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .ok_or_else(|| format!("tensor {name} has no shape"))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("tensor {name} has a malformed shape"))?;
    let offsets = value["data_offsets"]
        .as_array()
        .filter(|a| a.len() == 2)
        .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
        .ok_or_else(|| format!("tensor {name} has malformed data_offsets"))?;
    let (begin, end) = offsets;
    if begin > end || end > data_len {
        return Err(format!(
            "tensor {name} lies outside the file (bytes {begin}..{end} of {data_len}; truncated?)"
        ));
    }
    let numel = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| format!("tensor {name} has an absurd shape {shape:?}"))?;
    let expected = numel.checked_mul(element_bytes);
    if expected != Some(end - begin) {
        return Err(format!(
            "tensor {name}: shape {shape:?} of {dtype_str} needs {expected:?} bytes, file gives {}",
            end - begin
        ));
    }
    Ok(TensorInfo {
        dtype,
        stored_as: dtype_str.to_string(),
        shape,
        offset: begin,
        len: end - begin,
    })
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = file.seek_read(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

/// Where one network's tensors come from.
#[derive(Debug, Clone)]
pub enum WeightSource {
    /// Diffusers component files (one, or several shards).
    Files(Vec<PathBuf>),
    /// Part of a single-file checkpoint, renamed.
    Renamed(std::sync::Arc<RenamedTensors>),
}

impl WeightSource {
    /// A `VarBuilder` for a network computing in `dtype` on `device` (tensors
    /// come in the dtype [`kept_dtype`] picks). The files stay open until
    /// the builder (and every clone of it) is dropped.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        let backend: Box<dyn SimpleBackend> = match self {
            WeightSource::Files(paths) => Box::new(WeightSet::open(paths)?),
            WeightSource::Renamed(r) => Box::new(renamed::RenamedBackend::open(r)?),
        };
        Ok(VarBuilder::from_backend(backend, dtype, device.clone()))
    }

    /// The file to name in an error message.
    pub fn path(&self) -> PathBuf {
        match self {
            WeightSource::Files(paths) => paths.first().cloned().unwrap_or_default(),
            WeightSource::Renamed(r) => r.path().to_path_buf(),
        }
    }
}
