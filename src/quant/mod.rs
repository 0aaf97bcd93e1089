//! Quantized weight formats: the affine group layout (MLX's, see
//! `docs/FORMAT.md`), its quantize/dequantize references and packing.

pub mod affine;
pub mod gptq;
pub mod scale;

pub use affine::{dequantize, quantize, quantize_with, QuantizedMatrix};
pub use scale::ScaleDType;
