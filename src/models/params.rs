//! The parameters a model is built from: the tensor store ([`Params`], in
//! `crate::nn`) seen through a checkpoint-name scope ([`Scope`]).
//!
//! In the spirit of candle's `VarBuilder`: `root.pp("encoder.layer.0").pp("attention")`
//! names a prefix once, then `.linear("self.query", ..)` loads
//! `encoder.layer.0.attention.self.query.weight` (and `.bias`), so the code
//! reads like the checkpoint's names.

use super::config::QuantizationConfig;
use crate::error::Result;
pub use crate::nn::params::Params;
use crate::nn::{Embedding, LayerNorm, Linear, Quantization};
use crate::ops::tensor::Tensor;

/// [`Params`] under a checkpoint-name prefix, with the folder's quantization.
#[derive(Clone)]
pub struct Scope<'a> {
    params: &'a Params,
    quant: Option<&'a QuantizationConfig>,
    prefix: String,
}

impl<'a> Scope<'a> {
    /// The root scope (no prefix) of `params`, quantized as `quant` says.
    pub fn new(params: &'a Params, quant: Option<&'a QuantizationConfig>) -> Scope<'a> {
        Scope { params, quant, prefix: String::new() }
    }

    /// The scope `{prefix}.{name}` (an empty name is this scope).
    pub fn pp(&self, name: impl AsRef<str>) -> Scope<'a> {
        Scope { params: self.params, quant: self.quant, prefix: self.path(name.as_ref()) }
    }

    /// The full checkpoint path of `name` in this scope.
    pub fn path(&self, name: &str) -> String {
        match (self.prefix.is_empty(), name.is_empty()) {
            (true, _) => name.to_string(),
            (_, true) => self.prefix.clone(),
            _ => format!("{}.{name}", self.prefix),
        }
    }

    pub fn params(&self) -> &'a Params {
        self.params
    }

    /// Whether the file holds tensor `name` (e.g. `"lm_head.weight"`) in this scope.
    pub fn contains(&self, name: &str) -> bool {
        self.params.contains(&self.path(name))
    }

    /// The quantization of module `name`: its own entry, else the folder's,
    /// else what the weights were quantized to on load.
    pub fn quantization(&self, name: &str) -> Option<Quantization> {
        self.quant.and_then(|q| q.for_module(&self.path(name))).or(self.params.quantized_on_load())
    }

    /// `{name}.weight` `[out, in]` (float or quantized) and, with `bias`, `{name}.bias`.
    /// `why` names the config fields that imply the shape.
    pub fn linear(&self, name: &str, out: usize, inp: usize, bias: bool, why: &str) -> Result<Linear> {
        Linear::load(self.params, &self.path(name), out, inp, bias, self.quantization(name), why)
    }

    /// GPT-2's `Conv1D`: `{name}.weight` `[in, out]` and `{name}.bias`, float.
    pub fn conv1d(&self, name: &str, inp: usize, out: usize, why: &str) -> Result<Linear> {
        Linear::load_conv1d(self.params, &self.path(name), inp, out, why)
    }

    /// The table `{name}.weight` `[rows, cols]`, float or quantized.
    pub fn embedding(&self, name: &str, rows: usize, cols: usize, why: &str) -> Result<Embedding> {
        Embedding::load(self.params, &self.path(name), rows, cols, self.quantization(name), why)
    }

    /// A table that stays float (positions, token types: added, not multiplied).
    pub fn float_embedding(&self, name: &str, rows: usize, cols: usize, why: &str) -> Result<Embedding> {
        Embedding::load(self.params, &self.path(name), rows, cols, None, why)
    }

    /// Layer norm `{name}.weight`/`.bias` (or `.gamma`/`.beta`) over `cols`.
    pub fn layer_norm(&self, name: &str, cols: usize, eps: f32, why: &str) -> Result<LayerNorm> {
        LayerNorm::load(self.params, &self.path(name), cols, eps, why)
    }

    /// The float tensor `name` (full name, e.g. `"input_layernorm.weight"`) of shape `want`.
    pub fn tensor(&self, name: &str, want: &[usize], why: &str) -> Result<Tensor> {
        self.params.float(&self.path(name), want, why)
    }
}
