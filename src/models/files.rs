//! The files of a model folder: `config.json`, `tokenizer.json`, optional
//! sentence-transformers files, and the weights (`model.safetensors`, or the
//! shards listed by `model.safetensors.index.json`), streamed into [`Params`].

use std::collections::BTreeMap;

use super::params::Params;
use crate::error::bad;
use crate::error::Result;
use crate::weights::safetensors::Header;
use crate::weights::stream::SafetensorsStream;

/// Files read when present besides config and tokenizer.
pub const OPTIONAL: [&str; 4] = ["1_Pooling/config.json", "sentence_bert_config.json", "modules.json", "tokenizer_config.json"];

/// The small files of a model folder (everything but the weights).
#[derive(Clone, Default)]
pub struct ModelFiles {
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    /// Optional files by their path in the folder (see [`OPTIONAL`]).
    pub extra: BTreeMap<String, Vec<u8>>,
}

impl ModelFiles {
    pub fn config_json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.config).map_err(|e| bad("config.json", None, "a JSON object", format!("invalid JSON: {e}")))
    }

    /// An optional JSON file, parsed, if present.
    pub fn extra_json(&self, name: &str) -> Result<Option<serde_json::Value>> {
        match self.extra.get(name) {
            None => Ok(None),
            Some(b) => serde_json::from_slice(b).map(Some).map_err(|e| bad(name, None, "a JSON object", format!("invalid JSON: {e}"))),
        }
    }
}

/// Feeds one weights file to `params` as its bytes arrive.
pub struct WeightsLoader<'p> {
    file: String,
    stream: SafetensorsStream,
    params: &'p mut Params,
    /// The header's tensors were checked against the device's limits.
    checked: bool,
}

/// Memory kept free for running a model on the CPU path beyond its weights
/// (activations, a KV cache, the tokenizer): a load that would leave less fails.
pub const RUN_HEADROOM: u64 = 64 << 20;

impl<'p> WeightsLoader<'p> {
    pub fn new(file: &str, params: &'p mut Params) -> WeightsLoader<'p> {
        WeightsLoader { file: file.to_string(), stream: SafetensorsStream::new(file), params, checked: false }
    }

    /// Takes the next bytes of the file. Once its header has arrived, the
    /// whole file is checked against the device's limits, so a model that
    /// cannot fit fails after its first chunk, not its last.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let (params, file) = (&mut *self.params, &self.file);
            let n = self.stream.push_some(chunk, &mut |info, bytes| params.add(file, info, bytes))?;
            chunk = &chunk[n..];
            if let (false, Some(h)) = (self.checked, self.stream.header()) {
                self.checked = true;
                self.params.check_fits(&self.file, &h.tensors, RUN_HEADROOM)?;
            }
        }
        Ok(())
    }

    /// Bytes of this file received so far.
    pub fn received(&self) -> u64 {
        self.stream.received()
    }

    /// Ends the file: its header, and the most bytes held at once while reading it.
    pub fn finish(self) -> Result<(Header, usize)> {
        let peak = self.stream.peak_buffered();
        Ok((self.stream.finish()?, peak))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    //! Reading a folder from disk (the CLI and native tests).
    use super::*;
    use crate::error::Error;
    use crate::weights::shards::{ShardIndex, INDEX_FILE};
    use std::io::Read;
    use std::path::Path;

    /// Chunk size for reading weight files (the browser gets what `fetch` gives).
    const CHUNK: usize = 1 << 20;

    fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
        let p = dir.join(name);
        if !p.is_file() {
            return Ok(None);
        }
        crate::weights::read_file(&p).map(Some)
    }

    fn required(dir: &Path, name: &str) -> Result<Vec<u8>> {
        read(dir, name)?.ok_or_else(|| Error::Io { file: dir.join(name).display().to_string(), message: format!("the model folder has no {name}") })
    }

    /// The small files of the folder at `dir`.
    pub fn model_files(dir: &Path) -> Result<ModelFiles> {
        let mut extra = BTreeMap::new();
        for name in OPTIONAL {
            if let Some(b) = read(dir, name)? {
                extra.insert(name.to_string(), b);
            }
        }
        Ok(ModelFiles { config: required(dir, "config.json")?, tokenizer: required(dir, "tokenizer.json")?, extra })
    }

    /// Streams every weights file of `dir` into `params`, a chunk at a time.
    pub fn load_weights(dir: &Path, params: &mut Params) -> Result<()> {
        // The shards the index names (each checked against it), or model.safetensors.
        let index = read(dir, INDEX_FILE)?.map(|b| ShardIndex::parse(INDEX_FILE, &b)).transpose()?;
        let names: Vec<String> = match &index {
            Some(i) => i.shards().into_iter().map(str::to_string).collect(),
            None if dir.join("model.safetensors").is_file() => vec!["model.safetensors".to_string()],
            None => {
                return Err(Error::Io {
                    file: dir.join("model.safetensors").display().to_string(),
                    message: format!("the model folder has neither model.safetensors nor {INDEX_FILE}"),
                })
            }
        };
        for name in names {
            let path = dir.join(&name);
            let io = |e: std::io::Error| Error::Io { file: path.display().to_string(), message: e.to_string() };
            let mut f = std::fs::File::open(&path).map_err(io)?;
            let mut loader = WeightsLoader::new(&path.display().to_string(), params);
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                loader.push(&buf[..n])?;
            }
            let (header, _) = loader.finish()?;
            if let Some(index) = &index {
                index.check_shard(&name, &header)?;
            }
        }
        Ok(())
    }
}

/// Reads a model folder from disk onto `device`: its small files and every weight.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_dir(dir: &std::path::Path, device: &crate::ops::tensor::Device) -> Result<(ModelFiles, Params)> {
    let files = native::model_files(dir)?;
    let mut params = Params::new(device);
    native::load_weights(dir, &mut params)?;
    Ok((files, params))
}
