//! Normalisation layers: layer norm with weight and bias (old checkpoints:
//! gamma and beta) over the last dim.

use super::params::Params;
use crate::error::Result;
use crate::ops::tensor::{Device, Tensor};

/// Layer norm over the last dim with `{prefix}.weight` and `{prefix}.bias`
/// (old checkpoints: `.gamma` and `.beta`).
pub struct LayerNorm {
    pub(crate) gamma: Tensor,
    pub(crate) beta: Tensor,
    pub(crate) eps: f32,
}

impl LayerNorm {
    pub fn load(p: &Params, prefix: &str, cols: usize, eps: f32, why: &str) -> Result<LayerNorm> {
        let (g, b) = if p.contains(&format!("{prefix}.gamma")) { ("gamma", "beta") } else { ("weight", "bias") };
        Ok(LayerNorm { gamma: p.float(&format!("{prefix}.{g}"), &[cols], why)?, beta: p.float(&format!("{prefix}.{b}"), &[cols], why)?, eps })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(&self.gamma, &self.beta, self.eps)
    }

    pub fn device(&self) -> Device {
        self.gamma.device()
    }
}
