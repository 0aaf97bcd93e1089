//! A decoder, whatever its architecture: the network behind one type (an
//! enum over [`super::llama`] and [`super::gpt2`]), its tokenizer and what every decoder's config says.
//!
//! The architecture files do not import this one; the generation loop,
//! sampling and chat templates are in `crate::tasks`.

use serde::Deserialize;

use super::config::{from_json, lenient, CONFIG_FILE};
use super::files::ModelFiles;
use super::gpt2::Gpt2;
use super::llama::Llama;
use super::params::Params;
use crate::error::bad;
use crate::error::{Error, Result};
use crate::ops::decoder::KvCache;
use crate::ops::tensor::{Device, Tensor};
use crate::tokenizer::Tokenizer;

/// The network of a decoder: ids in, logits out, keys and values kept in a cache.
enum Net {
    Llama(Llama),
    Gpt2(Gpt2),
}

/// What every decoder reads from `config.json` besides its own shape.
#[derive(Clone, Debug)]
pub struct DecoderInfo {
    pub model_type: String,
    pub vocab: usize,
    pub max_positions: usize,
    /// `eos_token_id` of config.json (one or a list) and the tokenizer's `eos_token`.
    pub eos: Vec<u32>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub chat_template: Option<String>,
}

/// A loaded decoder with its tokenizer.
pub struct Decoder {
    pub info: DecoderInfo,
    device: Device,
    tokenizer: Tokenizer,
    net: Net,
    /// What a task builds once per model and keeps (the constrained
    /// decoder's token trie): typed by the task, built on first use.
    task_cache: std::cell::OnceCell<std::rc::Rc<dyn std::any::Any>>,
}

/// The architectures `config.json`'s `model_type` may name.
pub const SUPPORTED: &str = "llama, mistral, qwen2, smollm (Llama-family) and gpt2";

/// The fields of `config.json` that pick and end a decoder.
#[derive(Deserialize)]
struct DecoderJson {
    #[serde(default, deserialize_with = "lenient")]
    model_type: String,
    #[serde(default, deserialize_with = "lenient")]
    eos_token_id: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u64),
    Many(Vec<serde_json::Value>),
}

/// `tokenizer_config.json`'s special tokens and chat template.
#[derive(Deserialize, Default)]
struct TokenizerConfigJson {
    #[serde(default, deserialize_with = "lenient")]
    bos_token: Option<TokenJson>,
    #[serde(default, deserialize_with = "lenient")]
    eos_token: Option<TokenJson>,
    #[serde(default, deserialize_with = "lenient")]
    chat_template: Option<String>,
}

/// A special token: its text, or an `AddedToken` object with its `content`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenJson {
    Text(String),
    Added { content: String },
}

impl TokenJson {
    fn text(t: Option<TokenJson>) -> Option<String> {
        match t? {
            TokenJson::Text(s) | TokenJson::Added { content: s } => Some(s),
        }
    }
}

impl Decoder {
    /// Builds the model named by `config.json`'s `model_type` from the
    /// folder's files and loaded weights (shapes checked against the config).
    pub fn new(files: &ModelFiles, params: &Params) -> Result<Decoder> {
        let cfg = files.config_json()?;
        let dj: DecoderJson = from_json(CONFIG_FILE, &cfg)?;
        let tokenizer = Tokenizer::from_bytes("tokenizer.json", &files.tokenizer)?;
        let (net, vocab, max_positions) = match dj.model_type.as_str() {
            "llama" | "mistral" | "qwen2" | "smollm" | "smollm2" => {
                let m = Llama::new(&cfg, params)?;
                let (v, p) = (m.config.vocab, m.config.max_positions);
                (Net::Llama(m), v, p)
            }
            "gpt2" => {
                let m = Gpt2::new(&cfg, params)?;
                let (v, p) = (m.config.vocab, m.config.max_positions);
                (Net::Gpt2(m), v, p)
            }
            other => {
                return Err(bad(CONFIG_FILE, None, format!("a decoder \"model_type\": {SUPPORTED}"), format!("{other:?}, which webfm does not generate with")));
            }
        };
        tokenizer.check_fits(vocab)?;
        let tc = match files.extra_json("tokenizer_config.json")? {
            Some(v) => TokenizerConfigJson::deserialize(&v).unwrap_or_default(),
            None => TokenizerConfigJson::default(),
        };
        let mut eos: Vec<u32> = match dj.eos_token_id {
            Some(OneOrMany::One(n)) => vec![n as u32],
            Some(OneOrMany::Many(a)) => a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
            None => Vec::new(),
        };
        let eos_token = TokenJson::text(tc.eos_token);
        if let Some(id) = eos_token.as_deref().and_then(|t| tokenizer.token_to_id(t)) {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let info = DecoderInfo {
            model_type: dj.model_type,
            vocab,
            max_positions,
            eos,
            bos_token: TokenJson::text(tc.bos_token),
            eos_token,
            chat_template: tc.chat_template,
        };
        Ok(Decoder { info, device: params.device().clone(), tokenizer, net, task_cache: Default::default() })
    }

    /// The task's per-model state, made by `make` on first use (one type per model).
    pub fn task_cache<T: 'static>(&self, make: impl FnOnce(&Decoder) -> Result<T>) -> Result<std::rc::Rc<T>> {
        if self.task_cache.get().is_none() {
            let made: std::rc::Rc<dyn std::any::Any> = std::rc::Rc::new(make(self)?);
            let _ = self.task_cache.set(made);
        }
        let any = self.task_cache.get().expect("set above").clone();
        any.downcast::<T>().map_err(|_| Error::InvalidArgument("decoder: the task cache holds another type".into()))
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The Llama-family network (Llama, SmolLM2, Qwen2, Mistral), when this
    /// is one: fine-tuning trains that family only.
    pub(crate) fn llama(&self) -> Option<&Llama> {
        match &self.net {
            Net::Llama(m) => Some(m),
            Net::Gpt2(_) => None,
        }
    }

    /// Tokens of a prompt (no special tokens added: SmolLM2 and GPT-2 add
    /// none, and a chat template writes its own).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text, None)?.ids)
    }

    /// Layers, and floats per position of one layer's keys (or values).
    fn cache_shape(&self) -> (usize, usize) {
        match &self.net {
            Net::Llama(m) => m.cache_shape(),
            Net::Gpt2(m) => m.cache_shape(),
        }
    }

    /// Refuses a KV cache of `capacity` positions that cannot fit, before
    /// anything runs: on the GPU one layer's keys (or values) in one buffer,
    /// on the CPU path in wasm32 all layers' in the memory left. The error
    /// names the sizes.
    pub fn check_cache(&self, capacity: usize) -> Result<()> {
        let (layers, width) = self.cache_shape();
        let per_tensor = capacity as u64 * width as u64 * 4;
        let what = || format!("a KV cache of {capacity} positions × {width} floats per layer (lower maxNewTokens or the prompt)");
        match &self.device {
            Device::Gpu(g) if per_tensor > g.max_binding_bytes() => {
                Err(Error::LimitExceeded { what: what(), needed: per_tensor, limit_name: "maxStorageBufferBindingSize", limit: g.max_binding_bytes() })
            }
            Device::Cpu => match crate::platform::memory_left() {
                Some(left) if 2 * layers as u64 * per_tensor > left => Err(Error::LimitExceeded {
                    what: format!("{} for {layers} layers", what()),
                    needed: 2 * layers as u64 * per_tensor,
                    limit_name: "wasm32 memory left (4 GiB less what the page holds)",
                    limit: left,
                }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// A KV cache on the model's device for `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let (layers, width) = self.cache_shape();
        KvCache::new(&self.device, layers, capacity, width)
    }

    /// Logits `[T, V]` of the `ids` that follow the cached positions (only
    /// the last row `[1, V]` unless `all`); the cache advances by `ids.len()`.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::InvalidArgument("decoder: no tokens to run".into()));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.info.vocab) {
            return Err(Error::InvalidArgument(format!("token id {bad} is outside the model's vocabulary of {}", self.info.vocab)));
        }
        if cache.len() + ids.len() > self.info.max_positions {
            return Err(Error::InvalidArgument(format!(
                "{} cached + {} new tokens pass the model's context of {} positions",
                cache.len(),
                ids.len(),
                self.info.max_positions
            )));
        }
        match &self.net {
            Net::Llama(m) => m.forward(ids, cache, all),
            Net::Gpt2(m) => m.forward(ids, cache, all),
        }
    }
}
