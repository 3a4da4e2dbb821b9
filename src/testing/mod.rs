//! Test fixtures shared by the tests, benchmarks and examples, kept out of
//! the documented API: random-weight models of the real shapes and file
//! layout, where the committed reference data lives, and tensor comparison.
//! Heavy, test-only fixtures (the hub stand-in, whole tiny pipelines) stay
//! in `tests/common/`.

pub mod random_weights;

use std::path::PathBuf;

use candle_core::{DType, Tensor};

/// `tests/data/{name}`: reference data pinned from diffusers, transformers
/// and torch by `scripts/reference/`.
pub fn data_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The largest absolute difference between two tensors of one shape (any
/// float dtype; compared in f32). Panics on a shape mismatch: in a test that
/// is the failure to report.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let f32 = |t: &Tensor| t.to_dtype(DType::F32).expect("a float tensor");
    (f32(a) - f32(b))
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .expect("a difference of two same-shape tensors")
}
