//! Safetensors writing: tensors laid out in the order given, the JSON header
//! padded with spaces so the data area starts on an 8-byte boundary.

use super::safetensors::Dtype;
use crate::error::bad;
use crate::error::Result;
use half::{bf16, f16};
use std::collections::BTreeMap;

/// One tensor to write; `bytes` are little-endian, `dtype.size() × numel` long.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
}

/// The bytes of a safetensors file holding `entries` and `metadata`.
pub fn serialize(file: &str, entries: &[Entry], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0u64;
    for e in entries {
        let numel = e.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let want = numel.and_then(|n| n.checked_mul(e.dtype.size()));
        if want != Some(e.bytes.len()) {
            let want = want.map_or("an overflowing size".to_string(), |w| format!("{w} bytes"));
            return Err(bad(file, Some(e.name), format!("{want} for {} shape {:?}", e.dtype.name(), e.shape), format!("{} bytes", e.bytes.len())));
        }
        if e.name == "__metadata__" || header.contains_key(e.name) {
            return Err(bad(file, Some(e.name), "a unique tensor name other than __metadata__", "a repeated or reserved name"));
        }
        let end = offset + e.bytes.len() as u64;
        header.insert(e.name.into(), serde_json::json!({ "dtype": e.dtype.name(), "shape": e.shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut json = serde_json::to_vec(&header).map_err(|err| bad(file, None, "a header that serializes to JSON", err.to_string()))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset as usize);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for e in entries {
        out.extend_from_slice(e.bytes);
    }
    Ok(out)
}

pub fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Rounds to nearest f16.
pub fn f16_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect()
}

/// Rounds to nearest bf16.
pub fn bf16_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect()
}

pub fn u32_bytes(xs: &[u32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}
