//! The CPU backend: candle-core's kernels (SIMD natively and with wasm simd128).
//! It is also the reference the GPU kernels are tested against. Takes and
//! returns candle tensors (storage and shape), never `Tensor`.

use candle_core::{DType as CDType, Tensor as CTensor, D};

use crate::error::Result;
use crate::kinds::{Binary, Unary};

/// `[B.., M, K] x [B.., K, N]` (shapes checked by the caller).
pub(crate) fn matmul(a: &CTensor, b: &CTensor, out: Vec<usize>) -> Result<CTensor> {
    let b = if b.dtype() == CDType::F32 { b.clone() } else { b.to_dtype(CDType::F32)? };
    // A shared rank-2 right side (a linear layer's weight, often a transposed
    // view): fold the batch dims of `a` into its rows instead of broadcasting,
    // which would copy the weight on every call.
    let c = if b.rank() == 2 && a.rank() > 2 && a.is_contiguous() {
        let k = a.dims()[a.rank() - 1];
        a.reshape((a.elem_count() / k.max(1), k))?.matmul(&b)?.reshape(out.as_slice())?
    } else {
        a.broadcast_matmul(&b)?
    };
    debug_assert_eq!(c.dims(), out.as_slice());
    Ok(c)
}

pub(crate) fn binary(a: &CTensor, b: &CTensor, kind: Binary) -> Result<CTensor> {
    Ok(match kind {
        Binary::Add => a.broadcast_add(b)?,
        Binary::Mul => a.broadcast_mul(b)?,
    })
}

pub(crate) fn unary(a: &CTensor, kind: Unary) -> Result<CTensor> {
    Ok(match kind {
        Unary::Gelu => a.gelu_erf()?,
        Unary::GeluTanh => a.gelu()?,
        Unary::Silu => a.silu()?,
        Unary::Tanh => a.tanh()?,
        Unary::Relu => a.relu()?,
        Unary::Scale(s) => a.affine(s as f64, 0.0)?,
    })
}

/// Stable softmax over the last dim.
pub(crate) fn softmax(a: &CTensor) -> Result<CTensor> {
    Ok(softmax_last(a)?)
}

/// Softmax over the last dim with the row max subtracted; a row that is all
/// -inf (every key masked) comes out as zeros rather than NaN.
fn softmax_last(a: &CTensor) -> candle_core::Result<CTensor> {
    let max = a.max_keepdim(D::Minus1)?.clamp(f32::MIN, f32::MAX)?;
    let e = a.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?.clamp(f32::MIN_POSITIVE, f32::MAX)?;
    e.broadcast_div(&sum)
}

/// Layer norm when `beta` is given, RMS norm (no centring, no shift) when not.
pub(crate) fn layer_norm(x: &CTensor, gamma: &CTensor, beta: Option<&CTensor>, eps: f32) -> Result<CTensor> {
    let centred = match beta {
        Some(_) => x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?,
        None => x.clone(),
    };
    let denom = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps as f64)?.sqrt()?;
    let y = centred.broadcast_div(&denom)?.broadcast_mul(gamma)?;
    Ok(match beta {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// Encoder attention on `[B, T, H*D]` operands (see `ops::nn::encoder_attention`).
pub(crate) fn encoder_attention(q: &CTensor, k: &CTensor, v: &CTensor, lens: &[usize], heads: usize, scale: f32) -> Result<CTensor> {
    let (b, t, width) = q.dims3()?;
    let d = width / heads;
    // [B, T, H*D] -> [B, H, T, D]
    let split = |x: &CTensor| -> candle_core::Result<CTensor> { x.contiguous()?.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous() };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let scores = (q.matmul(&k.t()?)? * scale as f64)?;
    // Padding keys get -inf; a text with no tokens at all attends to nothing (zeros, as on the GPU).
    let mut mask = vec![0f32; b * t];
    for (bi, &len) in lens.iter().enumerate() {
        for j in len..t {
            mask[bi * t + j] = f32::NEG_INFINITY;
        }
    }
    let mask = CTensor::from_vec(mask, (b, 1, 1, t), &candle_core::Device::Cpu)?;
    let probs = softmax_last(&scores.broadcast_add(&mask)?)?;
    let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, width))?;
    Ok(y)
}
