//! Fuzz the GGUF parser and the conversion of every tensor it accepts:
//! any input must give a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_convert::convert;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(g) = Gguf::parse("fuzz", bytes) {
        for t in &g.tensors {
            if let Ok(c) = convert(&g, bytes, &t.name) {
                let _ = c.to_f32();
            }
        }
    }
});
