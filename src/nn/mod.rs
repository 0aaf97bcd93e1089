//! The modules models are built from. Each takes its weights from [`Params`]
//! by checkpoint name and picks float or affine-quantized compute by what the file holds.
//!
//! The weight format is chosen inside [`Linear`] and [`Embedding`], never by a
//! parallel quantized model, so a model is written once.

mod embedding;
mod linear;
mod norm;
pub mod params;

pub use embedding::Embedding;
pub use linear::Linear;
pub use norm::LayerNorm;
pub use params::Params;

use crate::error::Result;

/// `"quantization": {"bits", "group_size"}` from `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantization {
    pub bits: u32,
    pub group: usize,
}

impl Quantization {
    /// Reads the `"quantization"` object of a config, if there is one.
    pub fn from_config(file: &str, config: &serde_json::Value) -> Result<Option<Quantization>> {
        let Some(q) = config.get("quantization") else { return Ok(None) };
        let field = |k: &str| q.get(k).and_then(serde_json::Value::as_u64);
        match (field("bits"), field("group_size")) {
            (Some(bits), Some(group)) => {
                let q = Quantization { bits: bits as u32, group: group as usize };
                crate::quant::affine::check_params(1, q.group, q.bits, q.group)
                    .map_err(|e| crate::error::bad(file, None, "\"quantization\" with bits 4 or 8 and group_size 32, 64 or 128", e.to_string()))?;
                Ok(Some(q))
            }
            _ => Err(crate::error::bad(file, None, "\"quantization\": {\"bits\": 4|8, \"group_size\": 32|64|128}", q.to_string())),
        }
    }
}

impl Quantization {
    /// The quantization of module `prefix` (checkpoint path without
    /// `.weight`): its own entry under `config.json`'s `"quantization"` (a
    /// converted GGUF keeps e.g. the embedding at 8 bits and the rest at 4),
    /// else the top-level pair, else what the weights were quantized to on load.
    pub fn for_module(config: &serde_json::Value, params: &Params, prefix: &str) -> Option<Quantization> {
        crate::weights::convert::module_quantization(config, prefix).map(|(bits, group)| Quantization { bits, group }).or(params.quantized_on_load())
    }
}
