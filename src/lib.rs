//! webfm: foundation models in the web page. Rust compiled to WebAssembly,
//! WebGPU compute shaders for the heavy math, a CPU path where WebGPU is missing.
//!
//! Dependencies point one way (checked by `tests/layers.rs`): `web` and the
//! CLI use `train`, `models` and `weights`; those use `ops` (the front ends
//! on `Tensor`); `ops` uses the backends `cpu` and `gpu`, which know only
//! storage, shapes, `kinds` and `error`.

pub mod bench;
mod cpu;
pub mod error;
pub mod gpu;
pub mod kinds;
pub mod models;
pub mod nn;
pub mod ops;
pub mod platform;
pub mod quant;
pub mod rng;
pub mod selftest;
pub mod tasks;
pub mod tokenizer;
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
mod web;

pub use error::{Error, Result};
pub use kinds::{DType, GemmKernel};
pub use ops::{Device, DeviceRequest, Tensor};
