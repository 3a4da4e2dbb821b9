//! Weights kept in the precision their file stores, computed in f32.
//!
//! Most checkpoints ship in f16 (or bf16), and the CPU computes in f32. Kept
//! as f16, the SD 1.5 U-Net takes 1.7 GB instead of 3.4 GB; each layer widens
//! its weight for the one call that needs it ([`with_weight`]), which is
//! exact, so results are bit for bit those of weights converted at load. Small
//! parameters (biases, norm scales) are converted once at load ([`param`],
//! [`layer_norm`], `group_norm`): they cost nothing to keep wide.
//!
//! Which dtype a tensor is kept in is the loader's choice
//! (`crate::models::weights::kept_dtype`); every layer here accepts either.

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Shape, Storage, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use rayon::prelude::*;

/// Elements per parallel task of the CPU widening (256 KiB of f32 output).
const WIDEN_CHUNK: usize = 64 * 1024;

thread_local! {
    /// The f32 buffer this thread widens weights into, reused by every layer,
    /// and whether a weight in it is in use. A fresh buffer per layer and
    /// step is a fresh mapping for the larger weights (glibc maps blocks
    /// over 32 MiB anew), and faulting in its pages made a 256² U-Net step
    /// 35% slower; reusing one costs the largest weight once per thread.
    static SCRATCH: RefCell<(Option<Tensor>, bool)> = const { RefCell::new((None, false)) };
}

/// Run `f` with `weight` in `dtype`: f16/bf16 weights on the CPU are
/// widened into this thread's reusable buffer (see `SCRATCH`), anything
/// else is passed as is or converted by [`widen`]. `f` gets a view of the
/// buffer only for its call: a result that still points into the buffer is
/// copied out, and a nested call widens into a fresh tensor instead.
pub fn with_weight(
    weight: &Tensor,
    dtype: DType,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let reusable = weight.device().is_cpu()
        && dtype == DType::F32
        && matches!(weight.dtype(), DType::F16 | DType::BF16);
    if !reusable {
        return f(&widen(weight, dtype)?);
    }
    let n = weight.elem_count();
    let buffer = SCRATCH.with(|s| -> Result<Option<Tensor>> {
        let mut s = s.borrow_mut();
        if s.1 {
            return Ok(None);
        }
        if s.0.as_ref().is_none_or(|b| b.elem_count() < n) {
            s.0 = None; // free the old one first
            s.0 = Some(Tensor::zeros(n, DType::F32, &Device::Cpu)?);
        }
        s.1 = true;
        Ok(s.0.clone())
    })?;
    let Some(buffer) = buffer else {
        return f(&widen(weight, dtype)?);
    };
    let result = (|| {
        let view = buffer.narrow(0, 0, n)?;
        view.inplace_op2(&weight.contiguous()?, &WidenInto)?;
        let out = f(&view.reshape(weight.shape())?)?;
        if same_cpu_storage(&out, &buffer) {
            out.copy()
        } else {
            Ok(out)
        }
    })();
    SCRATCH.with(|s| s.borrow_mut().1 = false);
    result
}

/// Whether two CPU f32 tensors share their storage.
fn same_cpu_storage(a: &Tensor, b: &Tensor) -> bool {
    let ptr = |t: &Tensor| match &*t.storage_and_layout().0 {
        Storage::Cpu(CpuStorage::F32(v)) => Some(v.as_ptr()),
        _ => None,
    };
    ptr(a).is_some() && ptr(a) == ptr(b)
}

/// Writes a contiguous f16/bf16 tensor into a same-sized f32 view.
struct WidenInto;

impl candle_core::InplaceOp2 for WidenInto {
    fn name(&self) -> &'static str {
        "widen-into-f32"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> Result<()> {
        let (Some((d0, d1)), Some((s0, s1))) =
            (dst_l.contiguous_offsets(), src_l.contiguous_offsets())
        else {
            candle_core::bail!("widen expects contiguous tensors");
        };
        let CpuStorage::F32(dst) = dst else {
            candle_core::bail!("widen writes f32");
        };
        if d1 - d0 != s1 - s0 {
            candle_core::bail!("widen needs equal sizes");
        }
        widen_slice(src, s0..s1, &mut dst[d0..d1])
    }
}

/// `src[range]` (f16 or bf16) into `dst`, in parallel.
fn widen_slice(src: &CpuStorage, range: std::ops::Range<usize>, dst: &mut [f32]) -> Result<()> {
    match src {
        CpuStorage::F16(src) => dst
            .par_chunks_mut(WIDEN_CHUNK)
            .zip(src[range].par_chunks(WIDEN_CHUNK))
            .for_each(|(d, s)| half::slice::HalfFloatSliceExt::convert_to_f32_slice(s, d)),
        CpuStorage::BF16(src) => dst
            .par_chunks_mut(WIDEN_CHUNK)
            .zip(src[range].par_chunks(WIDEN_CHUNK))
            .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d = s.to_f32())),
        _ => candle_core::bail!("widen expects f16 or bf16"),
    }
    Ok(())
}

/// `t` in `dtype`. f16/bf16 → f32 on the CPU runs in parallel with F16C
/// (candle's `to_dtype` converts one element at a time on one thread, which
/// would add about a second to every 512² U-Net step); anything else is
/// candle's `to_dtype`, and a tensor already in `dtype` is returned as is.
pub fn widen(t: &Tensor, dtype: DType) -> Result<Tensor> {
    if t.dtype() == dtype {
        return Ok(t.clone());
    }
    if t.device().is_cpu() && dtype == DType::F32 && matches!(t.dtype(), DType::F16 | DType::BF16) {
        return t.apply_op1_no_bwd(&WidenToF32);
    }
    t.to_dtype(dtype)
}

struct WidenToF32;

impl candle_core::CustomOp1 for WidenToF32 {
    fn name(&self) -> &'static str {
        "widen-to-f32"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("widen expects a contiguous tensor");
        };
        let mut out = vec![0f32; end - start];
        widen_slice(storage, start..end, &mut out)?;
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// A small parameter (bias, scale) in the compute dtype, converted once.
pub fn param<S: Into<Shape>>(vb: &VarBuilder, shape: S, name: &str) -> Result<Tensor> {
    vb.get(shape, name)?.to_dtype(vb.dtype())
}

/// PyTorch's `nn.LayerNorm` (`weight`, `bias`) with its parameters in the
/// compute dtype.
pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let weight = param(&vb, size, "weight")?;
    let bias = param(&vb, size, "bias")?;
    Ok(LayerNorm::new(weight, bias, eps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn widening_is_exact_and_keeps_the_shape() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 1., (3, 70_001), &dev).unwrap() * 100.0).unwrap();
        for dtype in [DType::F16, DType::BF16] {
            let stored = x.to_dtype(dtype).unwrap();
            let ours = widen(&stored, DType::F32).unwrap();
            let candle = stored.to_dtype(DType::F32).unwrap();
            assert_eq!(ours.dims(), &[3, 70_001]);
            assert_eq!(ours.dtype(), DType::F32);
            assert_eq!(
                crate::testing::max_abs_diff(&ours, &candle),
                0.0,
                "{dtype:?}"
            );
            // A view that starts inside the storage.
            let row = stored.get(1).unwrap();
            let got = widen(&row, DType::F32).unwrap();
            let want = candle.get(1).unwrap();
            assert_eq!(
                crate::testing::max_abs_diff(&got, &want),
                0.0,
                "{dtype:?} row"
            );
        }
        assert_eq!(widen(&x, DType::F32).unwrap().dtype(), DType::F32);
    }

    #[test]
    fn the_reused_buffer_never_leaks_into_results() {
        let dev = Device::Cpu;
        let big = Tensor::randn(0f32, 1., (64, 33), &dev).unwrap();
        let small = Tensor::randn(0f32, 1., (5, 7), &dev).unwrap();
        let (big16, small16) = (
            big.to_dtype(DType::F16).unwrap(),
            small.to_dtype(DType::F16).unwrap(),
        );
        let exact = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
        // A result that is a view of the buffer is copied out, so widening
        // the next weight cannot change it.
        let kept = with_weight(&big16, DType::F32, |w| Ok(w.clone())).unwrap();
        let other = with_weight(&small16, DType::F32, |w| w.affine(2.0, 0.0)).unwrap();
        assert_eq!(crate::testing::max_abs_diff(&kept, &exact(&big16)), 0.0);
        assert_eq!(
            crate::testing::max_abs_diff(&other, &(exact(&small16) * 2.0).unwrap()),
            0.0
        );
        // A nested call widens into its own tensor.
        let nested = with_weight(&big16, DType::F32, |outer| {
            let inner = with_weight(&small16, DType::F32, |w| w.sum_all())?;
            outer.sum_all()? + inner
        })
        .unwrap();
        let want = (exact(&big16).sum_all().unwrap() + exact(&small16).sum_all().unwrap()).unwrap();
        assert_eq!(crate::testing::max_abs_diff(&nested, &want), 0.0);
        // f32 weights pass through untouched.
        let same = with_weight(&big, DType::F32, |w| Ok(w.clone())).unwrap();
        assert_eq!(crate::testing::max_abs_diff(&same, &big), 0.0);
    }
}
