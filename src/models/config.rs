//! What the config files of a model folder have in common: numbers read
//! leniently (so `validate()` names a missing or mistyped field), and `"quantization"`.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

use crate::error::{bad, Result};
use crate::nn::Quantization;

/// The file every model config comes from, for error messages.
pub const CONFIG_FILE: &str = "config.json";

/// A field read as `T` when it has that type, else `T::default()` (`None`
/// for an `Option`): a wrong type reads as absent, and `validate()` says so.
pub fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned + Default>(d: D) -> std::result::Result<T, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// A config file's JSON as the serde struct `T`: every field is lenient, so
/// this fails only on a field given twice (a name and its alias).
pub fn from_json<T: serde::de::DeserializeOwned>(file: &str, json: &serde_json::Value) -> Result<T> {
    T::deserialize(json).map_err(|e| bad(file, None, "each field once (a name or its alias)", e.to_string()))
}

/// `v` when it is a positive integer, else the error naming `name`.
pub fn positive(v: Option<usize>, name: &str) -> Result<usize> {
    v.filter(|&v| v > 0).ok_or_else(|| bad(CONFIG_FILE, None, format!("a positive integer \"{name}\""), "none"))
}

/// `"quantization"` of `config.json`: the folder's bits and group size and,
/// after a `--mixed` conversion, an entry of its own per module (by checkpoint path).
#[derive(Clone, Debug, Deserialize)]
struct QuantizationJson {
    #[serde(default, deserialize_with = "lenient")]
    bits: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    group_size: Option<usize>,
    /// `{"bits", "group_size"}` per module path; other keys are ignored.
    #[serde(flatten)]
    modules: HashMap<String, serde_json::Value>,
}

/// The checked `"quantization"` of a folder.
#[derive(Clone, Debug)]
pub struct QuantizationConfig {
    pub folder: Quantization,
    modules: HashMap<String, serde_json::Value>,
}

impl QuantizationConfig {
    /// Checks `"quantization"` (if any): bits 4 or 8, group size 32, 64 or 128.
    pub fn parse(file: &str, json: Option<&serde_json::Value>) -> Result<Option<QuantizationConfig>> {
        let Some(v) = json else { return Ok(None) };
        let shape = "\"quantization\": {\"bits\": 4|8, \"group_size\": 32|64|128}";
        let q: QuantizationJson = QuantizationJson::deserialize(v).map_err(|_| bad(file, None, shape, v.to_string()))?;
        let (Some(bits), Some(group)) = (q.bits, q.group_size) else { return Err(bad(file, None, shape, v.to_string())) };
        let folder = Quantization { bits, group };
        crate::quant::affine::check_params(1, group, bits, group)
            .map_err(|e| bad(file, None, "\"quantization\" with bits 4 or 8 and group_size 32, 64 or 128", e.to_string()))?;
        Ok(Some(QuantizationConfig { folder, modules: q.modules }))
    }

    /// Module `path`'s own entry (checkpoint path without `.weight`; a
    /// converted GGUF keeps e.g. the embedding at 8 bits and the rest at 4), else the folder's.
    pub fn for_module(&self, path: &str) -> Option<Quantization> {
        let pair =
            |v: &serde_json::Value| Some(Quantization { bits: u32::try_from(v.get("bits")?.as_u64()?).ok()?, group: v.get("group_size")?.as_u64()? as usize });
        match self.modules.get(path) {
            Some(own) => pair(own),
            None => Some(self.folder),
        }
    }
}
