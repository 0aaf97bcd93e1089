//! Fuzz target `tokenizer` (what it reads: `exercise::tokenizer` in `fuzz/exercise.rs`):
//! any input must give a value or an error, never a panic.
#![no_main]

#[path = "../exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| exercise::tokenizer(bytes));
