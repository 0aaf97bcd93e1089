//! What users call, on top of the models: sentence embeddings and
//! similarity, classification and zero-shot, chat prompts and generation,
//! and conversions that run a model (calibration).

pub mod batch;
pub mod chat;
pub mod classify;
pub mod constrain;
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
pub mod embed;
pub mod generate;
pub mod sample;
