//! Fuzz target `safetensors_stream` (what it reads: `exercise::safetensors_stream` in `fuzz/exercise.rs`):
//! any input must give a value or an error, never a panic.
#![no_main]

#[path = "../exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| exercise::safetensors_stream(bytes));
