//! One optimizer step over named tensors: the global gradient norm (one
//! readback, with the loss), a NaN/inf guard that keeps the last good
//! values, clipping, and AdamW with its moments.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ops::backward::AdamW;
use crate::ops::tensor::Tensor;

/// Gradients by PEFT name.
pub type Grads = BTreeMap<String, Tensor>;

/// Adds `g` into `acc[name]`.
pub fn accumulate(acc: &mut Grads, name: String, g: Tensor) -> Result<()> {
    let sum = match acc.remove(&name) {
        Some(prev) => prev.add(&g)?,
        None => g,
    };
    acc.insert(name, sum);
    Ok(())
}

/// Adds one layer's adapter gradients `(dA, dB)`, when it has an adapter, under their PEFT names.
pub fn accumulate_lora(acc: &mut Grads, path: &str, g: Option<crate::train::lora::LoraGrads>) -> Result<()> {
    if let Some((da, db)) = g {
        let (na, nb) = crate::train::lora::LoraSet::grad_names(path);
        accumulate(acc, na, da)?;
        accumulate(acc, nb, db)?;
    }
    Ok(())
}

/// What one optimizer step measured.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The batch's loss before the update.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
}

/// AdamW with clipping and its state.
pub struct Optimizer {
    pub opt: AdamW,
    /// Clip gradients to this global norm (none: no clipping).
    pub max_grad_norm: Option<f32>,
    moments: BTreeMap<String, (Tensor, Tensor)>,
    steps: u32,
}

impl Optimizer {
    pub fn new(opt: AdamW, max_grad_norm: Option<f32>) -> Optimizer {
        Optimizer { opt, max_grad_norm, moments: BTreeMap::new(), steps: 0 }
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Updates every `(name, tensor)` of `params` from `grads` at learning
    /// rate `lr`, handing each new tensor to `set`. A loss or gradient that
    /// is not finite stops before any change, naming the step.
    pub async fn step(
        &mut self,
        loss: &Tensor,
        grads: &Grads,
        params: Vec<(String, Tensor)>,
        lr: f64,
        mut set: impl FnMut(&str, Tensor) -> Result<()>,
    ) -> Result<StepReport> {
        let mut sq: Option<Tensor> = None;
        for g in grads.values() {
            let s = g.sum_squares()?;
            sq = Some(match sq {
                Some(acc) => acc.add(&s)?,
                None => s,
            });
        }
        let sq = sq.ok_or_else(|| Error::InvalidArgument("fine-tuning: nothing to train".into()))?;
        let both = Tensor::cat_cols(&[loss.reshape(&[1, 1])?, sq.reshape(&[1, 1])?])?.to_vec_f32().await?;
        let (loss, grad_norm) = (both[0], both[1].sqrt());
        if !loss.is_finite() || !grad_norm.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "fine-tuning: the loss became {loss} (gradient norm {grad_norm}) at step {}; the adapter keeps its values from before this step (try a lower learning rate)",
                self.steps + 1
            )));
        }
        let factor = self.max_grad_norm.map_or(1.0, |m| clip_factor(grad_norm, m));
        self.steps += 1;
        for (name, p) in params {
            let g = grads.get(&name).ok_or_else(|| Error::InvalidArgument(format!("fine-tuning: no gradient for {name}")))?;
            let (m, v) = match self.moments.remove(&name) {
                Some(mv) => mv,
                None => (p.zeros_like()?, p.zeros_like()?),
            };
            let (p2, m2, v2) = self.opt.update(self.steps, lr, factor, &p, g, &m, &v)?;
            set(&name, p2)?;
            self.moments.insert(name, (m2, v2));
        }
        Ok(StepReport { loss, grad_norm })
    }
}

/// The learning rate at optimizer step `step` (0-based) of `total`: linear
/// warm-up from 0 over `warmup` steps, then linear decay to 0 at `total`
/// (transformers' `get_linear_schedule_with_warmup`).
pub fn linear_schedule(lr: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return lr * step as f64 / warmup as f64;
    }
    let left = total.saturating_sub(step) as f64 / total.saturating_sub(warmup).max(1) as f64;
    lr * left.max(0.0)
}

/// The factor that scales gradients of global norm `norm` down to `max_norm`
/// (1 when already within; torch's `clip_grad_norm_` adds 1e-6).
pub fn clip_factor(norm: f32, max_norm: f32) -> f32 {
    (max_norm / (norm + 1e-6)).min(1.0)
}
