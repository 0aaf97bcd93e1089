//! The op front ends on [`Tensor`]: each op checks its operands once (shapes,
//! dtypes, devices), then runs on the operands' backend (`cpu`, `gpu`).
//! Each family's CPU reference sits beside its front end.

pub mod backward;
pub mod base;
pub mod decoder;
pub mod gather;
pub mod nn;
pub mod quant;
pub mod reference;
pub mod tensor;

pub use tensor::{Device, DeviceRequest, Tensor};
