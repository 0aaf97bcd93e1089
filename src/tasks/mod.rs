//! What users call, on top of the models: sentence embeddings and
//! similarity, classification and zero-shot, chat prompts and generation.

pub mod batch;
pub mod chat;
pub mod classify;
pub mod embed;
pub mod generate;
pub mod sample;
