//! Fuzz target `shard_index` (what it reads: `exercise::shard_index` in `fuzz/exercise.rs`):
//! any input must give a value or an error, never a panic.
#![no_main]

#[path = "../exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| exercise::shard_index(bytes));
