//! LoRA on a frozen linear layer: `y = x · Wᵀ + b + s · (x · Aᵀ) · Bᵀ` with
//! `A [r, in]`, `B [out, r]`, `s = alpha / r` (PEFT's `lora_A`, `lora_B`,
//! `scaling`). The forward keeps what the backward needs; the backward gives
//! the input's gradient and `A`'s and `B`'s.

use crate::error::{Error, Result};
use crate::models::nn::Linear;
use crate::tensor::Tensor;

/// Which layers get adapters, and their size.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    /// Module names as PEFT's `target_modules`: a layer is targeted when its
    /// checkpoint path equals one or ends with `.` + one (`"query"` targets
    /// `bert.encoder.layer.0.attention.self.query`).
    pub targets: Vec<String>,
}

impl LoraConfig {
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    pub fn targets(&self, path: &str) -> bool {
        self.targets.iter().any(|t| path == t || path.ends_with(&format!(".{t}")))
    }

    pub fn check(&self) -> Result<()> {
        if self.rank == 0 || self.rank > 256 {
            return Err(Error::InvalidArgument(format!("LoRA rank {} must be between 1 and 256", self.rank)));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::InvalidArgument(format!("LoRA alpha {} must be a positive number", self.alpha)));
        }
        if self.targets.is_empty() {
            return Err(Error::InvalidArgument("LoRA needs at least one target module".into()));
        }
        Ok(())
    }
}

/// One adapter's weights.
#[derive(Clone)]
pub struct LoraWeights {
    /// `[r, in]`
    pub a: Tensor,
    /// `[out, r]`
    pub b: Tensor,
}

/// What a linear layer's backward needs from its forward.
pub struct Saved {
    x: Tensor,
    /// `x · Aᵀ`, when the layer has an adapter.
    u: Option<Tensor>,
}

/// `x [T, in] -> [T, out]` through the frozen layer and its adapter, if any.
pub fn forward(lin: &Linear, lora: Option<&LoraWeights>, scale: f32, x: &Tensor) -> Result<(Tensor, Saved)> {
    let y = lin.forward(x)?;
    match lora {
        None => Ok((y, Saved { x: x.clone(), u: None })),
        Some(l) => {
            let u = x.matmul(&l.a.transpose()?)?;
            let y = y.add(&u.matmul(&l.b.transpose()?)?.scale(scale)?)?;
            Ok((y, Saved { x: x.clone(), u: Some(u) }))
        }
    }
}

/// The adapter's output alone, for inference: `s · (x · Aᵀ) · Bᵀ` added to `y`.
pub fn add_delta(y: &Tensor, lora: &LoraWeights, scale: f32, x: &Tensor) -> Result<Tensor> {
    y.add(&x.matmul(&lora.a.transpose()?)?.matmul(&lora.b.transpose()?)?.scale(scale)?)
}

/// Gradients of one layer: `dx` (when `need_dx`) and `(dA, dB)` (when it has an adapter).
pub fn backward(lin: &Linear, lora: Option<&LoraWeights>, scale: f32, saved: Saved, dy: &Tensor, need_dx: bool) -> Result<(Option<Tensor>, Option<(Tensor, Tensor)>)> {
    let mut dx = if need_dx { Some(lin.input_grad(dy)?) } else { None };
    let grads = match (lora, saved.u) {
        (Some(l), Some(u)) => {
            // dB = s · dyᵀ · u;  du = s · dy · B;  dA = duᵀ · x;  dx += du · A.
            let db = dy.transpose()?.matmul(&u)?.scale(scale)?;
            let du = dy.matmul(&l.b)?.scale(scale)?;
            let da = du.transpose()?.matmul(&saved.x)?;
            if let Some(d) = dx.take() {
                dx = Some(d.add(&du.matmul(&l.a)?)?);
            }
            Some((da, db))
        }
        _ => None,
    };
    Ok((dx, grads))
}
