//! What users call, built on the models: embedding, classification, the
//! generation loop, and conversions that run a model (calibration).

#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
