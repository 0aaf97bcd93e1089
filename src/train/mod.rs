//! Fine-tuning on a frozen (possibly quantized) base: backward ops, AdamW,
//! LoRA adapters and classification heads.

pub mod adapter;
pub mod backward;
pub mod decoder;
pub mod encoder;
pub mod lora;
pub mod optim;
pub mod run;
