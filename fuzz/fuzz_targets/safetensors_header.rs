//! Fuzz the safetensors header parser (and the tensor views after it):
//! any input must give a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webfm::weights::safetensors::{header_size, Header, SafeTensors};

fuzz_target!(|bytes: &[u8]| {
    if header_size("fuzz", bytes).is_ok() {
        let _ = Header::parse("fuzz", bytes);
    }
    if let Ok(st) = SafeTensors::parse("fuzz", bytes) {
        for t in st.tensors() {
            let _ = t.to_f32();
            let _ = t.to_u32();
        }
    }
});
