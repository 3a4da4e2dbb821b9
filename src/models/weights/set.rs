//! Several files (a sharded component) as one namespace of tensors.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use super::{SafeTensorsFile, TensorInfo};
use crate::error::Result;

/// A set of weight files (one component may be sharded) seen as one namespace.
pub struct WeightSet {
    files: Vec<SafeTensorsFile>,
    index: HashMap<String, usize>,
}

impl WeightSet {
    /// Open and validate every file; later files do not override earlier names.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::with_capacity(paths.len());
        let mut index = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            let f = SafeTensorsFile::open(p)?;
            for name in f.tensors().keys() {
                index.entry(name.clone()).or_insert(i);
            }
            files.push(f);
        }
        Ok(Self { files, index })
    }

    /// Layout of a tensor by name.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        let i = *self.index.get(name)?;
        self.files[i].tensors().get(name)
    }

    /// A candle `VarBuilder` for a network computing in `dtype` on `device`;
    /// tensors come in the dtype [`super::kept_dtype`] picks.
    pub fn var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        let backend: Box<dyn SimpleBackend> = Box::new(self);
        VarBuilder::from_backend(backend, dtype, device.clone())
    }
}

impl SimpleBackend for WeightSet {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let info = self.info(name).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "weights are missing tensor {name} that the config.json requires"
            ))
        })?;
        if info.shape.as_slice() != shape.dims() {
            candle_core::bail!(
                "tensor {name} has shape {:?} in the weights but the config.json implies {:?}",
                info.shape,
                shape.dims()
            );
        }
        self.get_unchecked(name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let i = *self
            .index
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} is missing")))?;
        self.files[i]
            .load_for_compute(name, dtype, dev)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
}
