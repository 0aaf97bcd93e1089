//! Reading weight files: safetensors (single file, header-only for streaming,
//! sharded), GGUF, the lossless GGUF → affine group layout conversion, and
//! `webfm convert` / `webfm inspect` (config, tokenizer and names from a GGUF).

pub mod convert;
pub mod gguf;
pub mod gguf_config;
pub mod gguf_convert;
pub mod gguf_tokenizer;
pub mod gguf_types;
pub mod inspect;
pub mod quantized;
pub mod safetensors;
pub mod safetensors_write;
pub mod shards;
pub mod stream;

/// Reads a whole file (native only; the browser hands us bytes).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path) -> crate::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| crate::error::Error::Io { file: path.display().to_string(), message: e.to_string() })
}
