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

/// `"quantization": {"bits", "group_size"}` from `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantization {
    pub bits: u32,
    pub group: usize,
}
