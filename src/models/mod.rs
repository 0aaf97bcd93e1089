//! Models and the pieces they are built from: parameters loaded tensor by
//! tensor ([`params`]), the modules ([`nn`]), the files of a model folder
//! ([`files`]) and the architectures.

pub mod bert;
pub mod decoder;
pub mod files;
pub mod gpt2;
pub mod llama;
pub mod params;

/// The first of `keys` that `config.json` has as a positive integer (later
/// keys are other families' names for the same field); the error names the first.
pub(crate) fn config_usize(cfg: &serde_json::Value, keys: &[&str]) -> crate::error::Result<usize> {
    keys.iter()
        .find_map(|k| cfg.get(*k).and_then(serde_json::Value::as_u64))
        .map(|v| v as usize)
        .filter(|&v| v > 0)
        .ok_or_else(|| crate::error::bad("config.json", None, format!("a positive integer \"{}\"", keys[0]), "none"))
}
