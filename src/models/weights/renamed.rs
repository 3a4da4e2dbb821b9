//! One file's tensors under other names, some sliced or transposed: how a
//! single-file checkpoint is served to networks that ask by diffusers names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

use super::SafeTensorsFile;

/// How a tensor asked for by one name is stored in a file under another.
#[derive(Debug, Clone)]
pub enum Stored {
    /// As is.
    Whole(String),
    /// Part `part` of `parts` equal slices along the first axis (OpenCLIP's
    /// fused q/k/v projection).
    Rows {
        /// The stored tensor.
        name: String,
        /// Which slice, from 0.
        part: usize,
        /// How many slices.
        parts: usize,
    },
    /// The transpose of a stored matrix (OpenCLIP keeps `x @ P`, a linear
    /// layer wants `P^T`).
    Transposed(String),
}

/// One file's tensors served under other names (a single-file checkpoint
/// seen through diffusers names). Holds the path, not an open file: the file
/// is open only while a network is being built from it.
#[derive(Debug)]
pub struct RenamedTensors {
    path: PathBuf,
    names: HashMap<String, Stored>,
}

impl RenamedTensors {
    /// Serve `names` (wanted name → where it is stored) from the file at `path`.
    pub fn new(path: PathBuf, names: HashMap<String, Stored>) -> Self {
        Self { path, names }
    }

    /// The file behind the names.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// [`RenamedTensors`] with its file open.
pub(super) struct RenamedBackend {
    file: SafeTensorsFile,
    renamed: std::sync::Arc<RenamedTensors>,
}

impl RenamedBackend {
    /// Map the file (validating its header again: it may have changed).
    pub(super) fn open(renamed: &std::sync::Arc<RenamedTensors>) -> crate::Result<Self> {
        Ok(Self {
            file: SafeTensorsFile::open(&renamed.path)?,
            renamed: renamed.clone(),
        })
    }

    /// The shape a wanted tensor will have, without reading it.
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let info = |n: &str| self.file.tensors().get(n).map(|t| t.shape.clone());
        match self.renamed.names.get(name)? {
            Stored::Whole(n) => info(n),
            Stored::Rows { name, parts, .. } => {
                let mut shape = info(name)?;
                let rows = shape.first_mut()?;
                if *rows % parts != 0 {
                    return None;
                }
                *rows /= parts;
                Some(shape)
            }
            Stored::Transposed(n) => {
                let shape = info(n)?;
                (shape.len() == 2).then(|| vec![shape[1], shape[0]])
            }
        }
    }

    fn load(&self, name: &str, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
        let load = |n: &str| {
            self.file
                .load_for_compute(n, dtype, device)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))
        };
        match self.renamed.names.get(name) {
            None => candle_core::bail!("the checkpoint has no tensor for {name}"),
            Some(Stored::Whole(n)) => load(n),
            Some(Stored::Rows { name, part, parts }) => {
                let t = load(name)?;
                let rows = t.dim(0)? / parts;
                t.narrow(0, part * rows, rows)?.contiguous()
            }
            Some(Stored::Transposed(n)) => load(n)?.t()?.contiguous(),
        }
    }
}

impl SimpleBackend for RenamedBackend {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.shape(name) {
            None => candle_core::bail!("the checkpoint has no tensor for {name}"),
            Some(s) if s.as_slice() != shape.dims() => candle_core::bail!(
                "tensor {name} has shape {s:?} in the checkpoint but the model needs {:?}",
                shape.dims()
            ),
            Some(_) => self.load(name, dtype, dev),
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.renamed.names.contains_key(name)
    }
}
