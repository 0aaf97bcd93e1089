//! The blocks both trainers share, in llm.c's style: a forward that returns
//! what its backward reads, and the backward as a plain function of that.
//! Matmul and LoRA backward live in `train::lora`, the norms' and the
//! activations' in `ops::backward`.
//!
//! Legend: `BH` sequences × heads, `T` tokens, `D` head size.

use crate::error::{Error, Result};
use crate::kinds::Act;
use crate::models::Proj;
use crate::ops::tensor::Tensor;
use crate::train::lora::Saved;

/// What attention keeps for its backward: the heads and the probabilities.
pub struct AttentionActs {
    /// `[BH, T, D]` each (rope applied and KV heads repeated where the model does that).
    pub qh: Tensor,
    pub kh: Tensor,
    pub vh: Tensor,
    /// `[BH, T, T]`
    pub probs: Tensor,
}

/// `softmax(qh · khᵀ · scale + mask) · vh -> [BH, T, D]`, materialized so that
/// the probabilities can be kept. `mask` (`[BH, T, T]` or `[T, T]`): 0 where
/// a query may see a key, a large negative number elsewhere.
pub fn attention_forward(qh: Tensor, kh: Tensor, vh: Tensor, mask: Option<&Tensor>, scale: f32) -> Result<(Tensor, AttentionActs)> {
    let scores = qh.matmul(&kh.transpose()?)?.scale(scale)?;
    let probs = match mask {
        Some(m) => scores.add(m)?,
        None => scores,
    }
    .softmax()?;
    let out = probs.matmul(&vh)?;
    Ok((out, AttentionActs { qh, kh, vh, probs }))
}

/// `(dqh, dkh, dvh)` `[BH, T, D]` from `dout` `[BH, T, D]`; the mask is constant.
pub fn attention_backward(a: &AttentionActs, dout: &Tensor, scale: f32) -> Result<(Tensor, Tensor, Tensor)> {
    let dvh = a.probs.transpose()?.matmul(dout)?;
    let dprobs = dout.matmul(&a.vh.transpose()?)?;
    let dscores = a.probs.softmax_backward(&dprobs)?.scale(scale)?;
    let dqh = dscores.matmul(&a.kh)?;
    let dkh = dscores.transpose()?.matmul(&a.qh)?;
    Ok((dqh, dkh, dvh))
}

/// SwiGLU `silu(g) · u` backward: `(dg, du)` from `dy`.
pub fn swiglu_backward(g: &Tensor, u: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
    let dg = g.act_backward(&dy.mul(u)?, Act::Silu)?;
    let du = dy.mul(&g.silu()?)?;
    Ok((dg, du))
}

/// The gradient of an input that several layers read (q, k and v; gate and
/// up): the sum of the parts that were computed, `None` when none was.
pub fn sum_input_grads(parts: impl IntoIterator<Item = Option<Tensor>>) -> Result<Option<Tensor>> {
    let mut acc: Option<Tensor> = None;
    for p in parts.into_iter().flatten() {
        acc = Some(match acc {
            Some(a) => a.add(&p)?,
            None => p,
        });
    }
    Ok(acc)
}

/// The input that projection `p`'s forward kept, taken out of a layer's list.
pub fn take_saved(saved: &mut Vec<(Proj, Saved)>, p: Proj) -> Result<Saved> {
    let at = saved.iter().position(|(q, _)| *q == p).ok_or_else(|| Error::InvalidArgument(format!("fine-tuning: {p:?} ran no forward")))?;
    Ok(saved.swap_remove(at).1)
}
