//! Sharded safetensors: `model.safetensors.index.json` says which shard file
//! holds which tensor (`{"metadata": {...}, "weight_map": {name: file}}`).

use super::safetensors::Header;
use crate::error::bad;
use crate::error::Result;
use std::collections::{BTreeMap, BTreeSet};

/// The usual name of the index file in a Hugging Face folder.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

#[derive(Debug, Clone)]
pub struct ShardIndex {
    pub file: String,
    /// The index's `metadata` object as written (often `{"total_size": N}`).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// tensor name → shard file name (relative to the index's folder).
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    pub fn parse(file: &str, bytes: &[u8]) -> Result<ShardIndex> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            metadata: serde_json::Map<String, serde_json::Value>,
            weight_map: BTreeMap<String, String>,
        }
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| bad(file, None, "a JSON object with \"weight_map\": {tensor name: shard file}", e.to_string()))?;
        for (tensor, shard) in &raw.weight_map {
            let escapes = shard.split(['/', '\\']).any(|part| part == "..");
            if shard.is_empty() || shard.starts_with(['/', '\\']) || escapes || shard.contains(['\0', ':']) {
                return Err(bad(file, Some(tensor), "a shard file name inside the model's folder", format!("\"{shard}\"")));
            }
        }
        Ok(ShardIndex { file: file.to_string(), metadata: raw.metadata, weight_map: raw.weight_map })
    }

    /// The shard that holds `tensor`.
    pub fn shard_of(&self, tensor: &str) -> Option<&str> {
        self.weight_map.get(tensor).map(String::as_str)
    }

    /// Every shard file, each once, sorted.
    pub fn shards(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.weight_map.values().map(String::as_str).collect();
        set.into_iter().collect()
    }

    /// The tensors the index places in `shard`.
    pub fn tensors_in<'s>(&'s self, shard: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.weight_map.iter().filter(move |(_, s)| s.as_str() == shard).map(|(t, _)| t.as_str())
    }

    /// Checks a shard's header against the index: every tensor the index puts
    /// there is present, and the shard holds no tensor the index places elsewhere.
    pub fn check_shard(&self, shard: &str, header: &Header) -> Result<()> {
        for t in self.tensors_in(shard) {
            if header.get(t).is_none() {
                return Err(bad(&header.file, Some(t), format!("this tensor, which {} places in {shard}", self.file), "no such tensor in the shard"));
            }
        }
        for t in &header.tensors {
            match self.shard_of(&t.name) {
                Some(s) if s == shard => {}
                Some(other) => {
                    return Err(bad(&header.file, Some(&t.name), format!("it only in {other}, as {} says", self.file), format!("it in {shard} too")))
                }
                None => return Err(bad(&header.file, Some(&t.name), format!("only tensors listed in {}", self.file), "a tensor the index does not list")),
            }
        }
        Ok(())
    }
}
