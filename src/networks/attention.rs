//! Scaled dot-product attention that never materialises the full score matrix.
//!
//! At 512² with classifier-free guidance the U-Net's first self-attention has
//! 16 head-batches × 4096 queries × 4096 keys: 1 GiB of f32 scores in one
//! tensor (and the VAE decoder's mid-block attention is as large). We process
//! the queries in chunks sized so that one chunk's scores stay within
//! `SCORE_BUDGET_BYTES`; the result is identical to the unchunked formula.
//!
//! On the CPU the chunks are small tiles instead ([`TiledAttention`]): one
//! parallel task per (head, block of queries), whose scores stay in cache
//! between the two products and the softmax, written straight into the
//! output. The candle-op version (16 MiB score chunks, a matrix
//! product per head, a concatenation at the end) took 1.15 s for the first
//! 512² layer; this one is measured by the bench's `attention` stage.

use candle_core::{CpuStorage, DType, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::f32_values;
use super::softmax::{scaled_softmax_last_dim, softmax_row};

/// Upper bound for one CPU task's score tile (128 queries × 4096 keys): big
/// enough that packing the keys for the first product is paid over many
/// queries, small enough for L2/L3. 1–4 MiB measured alike at 512²
/// (0.51–0.52 s for the first layer), 256 KiB 15% slower.
const TILE_BUDGET_BYTES: usize = 2 * 1024 * 1024;

/// Upper bound for the bytes of one chunk's f32 score matrix. Small chunks
/// stay in cache: 16 MiB measured faster than 64 or 256 MiB at 512².
const SCORE_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// `softmax(q·kᵀ·scale)·v` for `q: [batch, n_q, d]`, `k: [batch, n_k, d]`,
/// `v: [batch, n_k, d_v]`; returns `[batch, n_q, d_v]` in `q`'s dtype.
///
/// Scores and softmax are computed in f32 whatever the input dtype, because
/// f16 softmax over thousands of keys overflows.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    if q.device().is_cpu() && q.dtype() == DType::F32 {
        let op = TiledAttention {
            scale: scale as f32,
        };
        return q
            .contiguous()?
            .apply_op3_no_bwd(&k.contiguous()?, &v.contiguous()?, &op);
    }
    attention_in_chunks(q, k, v, scale)
}

/// The portable [`attention`]: candle ops over query chunks whose scores
/// stay within `SCORE_BUDGET_BYTES`.
fn attention_in_chunks(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    let in_dtype = q.dtype();
    let (batch, n_q, _) = q.dims3()?;
    let (_, n_k, _) = k.dims3()?;
    let q = q.to_dtype(DType::F32)?;
    let k_t = k.to_dtype(DType::F32)?.t()?.contiguous()?;
    let v = v.to_dtype(DType::F32)?.contiguous()?;

    let row_bytes = batch * n_k * std::mem::size_of::<f32>();
    let chunk = (SCORE_BUDGET_BYTES / row_bytes.max(1)).clamp(1, n_q);

    let mut outputs = Vec::with_capacity(n_q.div_ceil(chunk));
    let mut start = 0;
    while start < n_q {
        let len = chunk.min(n_q - start);
        let q_chunk = q.narrow(1, start, len)?.contiguous()?;
        let probs = scaled_softmax_last_dim(q_chunk.matmul(&k_t)?, scale)?;
        outputs.push(probs.matmul(&v)?);
        start += len;
    }
    let out = if outputs.len() == 1 {
        outputs.pop().expect("one chunk")
    } else {
        Tensor::cat(&outputs, 1)?
    };
    out.to_dtype(in_dtype)
}

/// [`attention`] on the CPU in f32, in L2-sized tiles (see the module doc).
struct TiledAttention {
    scale: f32,
}

thread_local! {
    /// One task's score tile, reused by every task this thread runs.
    static TILE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl candle_core::CustomOp3 for TiledAttention {
    fn name(&self) -> &'static str {
        "tiled-attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_l: &Layout,
        k: &CpuStorage,
        k_l: &Layout,
        v: &CpuStorage,
        v_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let q = f32_values("attention q", q, q_l)?;
        let k = f32_values("attention k", k, k_l)?;
        let v = f32_values("attention v", v, v_l)?;
        let (batch, n_q, d) = q_l.shape().dims3()?;
        let (kb, n_k, dk) = k_l.shape().dims3()?;
        let (vb, vn, dv) = v_l.shape().dims3()?;
        if kb != batch || vb != batch || dk != d || vn != n_k {
            candle_core::bail!(
                "attention shapes do not fit: q {:?}, k {:?}, v {:?}",
                q_l.dims(),
                k_l.dims(),
                v_l.dims()
            );
        }
        let mut out = vec![0f32; batch * n_q * dv];
        if n_q == 0 || dv == 0 {
            return Ok((CpuStorage::F32(out), Shape::from((batch, n_q, dv))));
        }
        let block = (TILE_BUDGET_BYTES / (n_k.max(1) * 4))
            .clamp(8, 256)
            .min(n_q);
        let scale = self.scale;
        out.par_chunks_mut(n_q * dv)
            .enumerate()
            .for_each(|(b, out_b)| {
                let (qb, kb, vb) = (
                    &q[b * n_q * d..(b + 1) * n_q * d],
                    &k[b * n_k * d..(b + 1) * n_k * d],
                    &v[b * n_k * dv..(b + 1) * n_k * dv],
                );
                out_b
                    .par_chunks_mut(block * dv)
                    .enumerate()
                    .for_each(|(i, o)| {
                        let rows = o.len() / dv;
                        let qs = &qb[i * block * d..(i * block + rows) * d];
                        TILE.with(|tile| {
                            let mut tile = tile.borrow_mut();
                            tile.resize(block * n_k, 0.0);
                            let s = &mut tile[..rows * n_k];
                            // SAFETY (both products): every pointer and
                            // stride below addresses the slices it was taken
                            // from: qs rows × d, kb n_k × d read as its
                            // transpose (d × n_k: row stride 1, column
                            // stride d), s rows × n_k, vb n_k × dv, o rows × dv.
                            unsafe {
                                gemm::gemm(
                                    rows,
                                    n_k,
                                    d,
                                    s.as_mut_ptr(),
                                    1,
                                    n_k as isize,
                                    false,
                                    qs.as_ptr(),
                                    1,
                                    d as isize,
                                    kb.as_ptr(),
                                    d as isize,
                                    1,
                                    0.0,
                                    1.0,
                                    false,
                                    false,
                                    false,
                                    Parallelism::None,
                                );
                            }
                            s.chunks_exact_mut(n_k).for_each(|r| softmax_row(r, scale));
                            unsafe {
                                gemm::gemm(
                                    rows,
                                    dv,
                                    n_k,
                                    o.as_mut_ptr(),
                                    1,
                                    dv as isize,
                                    false,
                                    s.as_ptr(),
                                    1,
                                    n_k as isize,
                                    vb.as_ptr(),
                                    1,
                                    dv as isize,
                                    0.0,
                                    1.0,
                                    false,
                                    false,
                                    false,
                                    Parallelism::None,
                                );
                            }
                        });
                    });
            });
        Ok((CpuStorage::F32(out), Shape::from((batch, n_q, dv))))
    }
}

/// Split `[batch, seq, heads·d]` into `[batch·heads, seq, d]`.
pub fn split_heads(xs: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, n, c) = xs.dims3()?;
    xs.reshape((b, n, heads, c / heads))?
        .transpose(1, 2)?
        .reshape((b * heads, n, c / heads))
}

/// Inverse of [`split_heads`]: `[batch·heads, seq, d]` to `[batch, seq, heads·d]`.
pub fn merge_heads(xs: &Tensor, heads: usize) -> Result<Tensor> {
    let (bh, n, d) = xs.dims3()?;
    xs.reshape((bh / heads, heads, n, d))?
        .transpose(1, 2)?
        .reshape((bh / heads, n, heads * d))
}

/// Adds a causal mask to `[.., n, n]` scores (used by the CLIP text encoder).
pub fn causal_mask(n: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (n, n), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    fn naive(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Tensor {
        let s = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        let p = candle_nn::ops::softmax(&s, D::Minus1).unwrap();
        p.matmul(v).unwrap()
    }

    #[test]
    fn chunked_equals_naive() {
        let dev = Device::Cpu;
        // Large enough n_k that several chunks are needed.
        let (b, nq, nk, d) = (2, 3000, 3000, 8);
        let q = Tensor::randn(0f32, 1., (b, nq, d), &dev).unwrap();
        let k = Tensor::randn(0f32, 1., (b, nk, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1., (b, nk, d), &dev).unwrap();
        let row_bytes = b * nk * 4;
        assert!(SCORE_BUDGET_BYTES / row_bytes < nq, "test must span chunks");
        let n = naive(&q, &k, &v, 0.3);
        let a = attention_in_chunks(&q, &k, &v, 0.3).unwrap();
        assert!(crate::testing::max_abs_diff(&a, &n) < 1e-5);
    }

    #[test]
    fn tiled_equals_naive() {
        let dev = Device::Cpu;
        // Odd sizes: a last, partial block of queries; cross-attention (few
        // keys, other value width).
        for (b, nq, nk, d, dv) in [(2, 3001, 3000, 8, 8), (3, 77, 5, 40, 24), (1, 1, 1, 3, 2)] {
            let q = Tensor::randn(0f32, 1., (b, nq, d), &dev).unwrap();
            let k = Tensor::randn(0f32, 1., (b, nk, d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1., (b, nk, dv), &dev).unwrap();
            let a = attention(&q, &k, &v, 0.3).unwrap();
            assert_eq!(a.dims(), &[b, nq, dv]);
            let diff = crate::testing::max_abs_diff(&a, &naive(&q, &k, &v, 0.3));
            assert!(diff < 1e-5, "{b}×{nq}×{nk}×{d}: {diff}");
        }
    }

    #[test]
    fn heads_round_trip() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (2, 5, 12), &dev).unwrap();
        let y = merge_heads(&split_heads(&x, 3).unwrap(), 3).unwrap();
        let diff = (x - y).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}
