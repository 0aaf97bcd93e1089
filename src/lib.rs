//! webfm: foundation models in the web page. Rust compiled to WebAssembly,
//! WebGPU compute shaders for the heavy math, a CPU path where WebGPU is missing.

pub mod bench;
mod cpu;
pub mod error;
pub mod gpu;
pub mod models;
pub mod nn;
pub mod ops;
pub mod ops_decoder;
pub mod ops_nn;
pub mod platform;
pub mod quant;
pub mod reference;
pub mod selftest;
pub mod tasks;
pub mod tensor;
pub mod tokenizer;
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
mod web;

pub use error::{Error, Result};
pub use ops::GemmKernel;
pub use tensor::{DType, Device, DeviceRequest, Tensor};
