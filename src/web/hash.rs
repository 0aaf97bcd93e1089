//! An incremental SHA-256 for the package's fetch layer (pkg/integrity.js):
//! files stream, and Web Crypto's `digest` wants the whole file at once.

use base64::Engine;
use sha2::Digest;
use wasm_bindgen::prelude::*;

/// `new Sha256()`, `update(bytes)` per chunk, `finish()` → `"sha256-<base64>"`
/// (the Subresource Integrity form).
#[wasm_bindgen]
pub struct Sha256 {
    h: sha2::Sha256,
}

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Sha256 {
        Sha256 { h: sha2::Sha256::new() }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.h.update(chunk);
    }

    /// The digest in SRI form; the hasher is used up.
    pub fn finish(self) -> String {
        format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(self.h.finalize()))
    }
}
