//! Text generation with a decoder ([`super::llama`], [`super::gpt2`]): the
//! model behind one type, options and their checks, the chat template,
//! sampling, and a step-by-step [`Generation`] that streams text pieces
//! (correct across tokens that split a UTF-8 character) and stops at an
//! end-of-sequence token, a stop string or the token budget.

use std::rc::Rc;

use super::files::ModelFiles;
use super::gpt2::Gpt2;
use super::llama::Llama;
use super::params::Params;
use crate::error::bad;
use crate::error::{Error, Result};
use crate::ops::decoder::{argmax, greedy_token, penalize, KvCache};
use crate::ops::tensor::{Device, Tensor};
use crate::tokenizer::Tokenizer;

/// The network of a decoder: ids in, logits out, keys and values kept in a cache.
pub(crate) trait Net {
    /// Logits `[T, V]` of the `ids` that follow the cached positions (only
    /// the last row `[1, V]` unless `all`); the cache advances by `ids.len()`.
    fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor>;
    /// Layers and floats per cached position and layer (KV heads × head size).
    fn cache_shape(&self) -> (usize, usize);
    /// The Llama-family network, for fine-tuning (the only family it trains).
    fn llama(&self) -> Option<&super::llama::Llama> {
        None
    }
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
    net: Box<dyn Net>,
}

/// The architectures `config.json`'s `model_type` may name.
pub const SUPPORTED: &str = "llama, mistral, qwen2, smollm (Llama-family) and gpt2";

fn token_str(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
        _ => None,
    }
}

impl Decoder {
    /// Builds the model named by `config.json`'s `model_type` from the
    /// folder's files and loaded weights (shapes checked against the config).
    pub fn new(files: &ModelFiles, params: &Params) -> Result<Decoder> {
        let cfg = files.config_json()?;
        let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let tokenizer = Tokenizer::from_bytes("tokenizer.json", &files.tokenizer)?;
        let (net, vocab, max_positions): (Box<dyn Net>, usize, usize) = match model_type.as_str() {
            "llama" | "mistral" | "qwen2" | "smollm" | "smollm2" => {
                let m = Llama::new(&cfg, params)?;
                let (v, p) = (m.config.vocab, m.config.max_positions);
                (Box::new(m), v, p)
            }
            "gpt2" => {
                let m = Gpt2::new(&cfg, params)?;
                let (v, p) = (m.config.vocab, m.config.max_positions);
                (Box::new(m), v, p)
            }
            other => {
                return Err(bad(
                    "config.json",
                    None,
                    format!("a decoder \"model_type\": {SUPPORTED}"),
                    format!("{other:?}, which webfm does not generate with"),
                ));
            }
        };
        tokenizer.check_fits(vocab)?;
        let tc = files.extra_json("tokenizer_config.json")?.unwrap_or(serde_json::Value::Null);
        let mut eos: Vec<u32> = match cfg.get("eos_token_id") {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| v as u32).into_iter().collect(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
            _ => Vec::new(),
        };
        let eos_token = token_str(tc.get("eos_token"));
        if let Some(id) = eos_token.as_deref().and_then(|t| tokenizer.token_to_id(t)) {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let info = DecoderInfo {
            model_type,
            vocab,
            max_positions,
            eos,
            bos_token: token_str(tc.get("bos_token")),
            eos_token,
            chat_template: tc.get("chat_template").and_then(|v| v.as_str()).map(str::to_string),
        };
        Ok(Decoder { info, device: params.device().clone(), tokenizer, net })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The Llama-family network (Llama, SmolLM2, Qwen2, Mistral), when this is one.
    pub(crate) fn llama(&self) -> Option<&super::llama::Llama> {
        self.net.llama()
    }

    /// Tokens of a prompt (no special tokens added: SmolLM2 and GPT-2 add
    /// none, and a chat template writes its own).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text, None)?.ids)
    }

    /// Checks a generation request before anything runs: the options, a
    /// non-empty prompt, and prompt plus `max_new_tokens` within the context.
    pub fn check_request(&self, prompt_len: usize, opt: &GenerateOptions) -> Result<()> {
        opt.check()?;
        if prompt_len == 0 {
            return Err(Error::InvalidArgument("generate: the prompt is empty (no tokens)".into()));
        }
        let (max, need) = (self.info.max_positions, prompt_len + opt.max_new_tokens);
        if need > max {
            return Err(Error::InvalidArgument(format!(
                "generate: the prompt's {prompt_len} tokens + maxNewTokens {} = {need} pass the model's context of {max} positions",
                opt.max_new_tokens
            )));
        }
        Ok(())
    }

    /// A KV cache on the model's device for `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        let (layers, width) = self.net.cache_shape();
        KvCache::new(&self.device, layers, capacity, width)
    }

    /// Logits of `ids` after the cached positions (see [`Net::forward`]).
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
        self.net.forward(ids, cache, all)
    }

    /// The chat template applied to `messages` (`{role, content}`), ending
    /// with the assistant's turn opened.
    pub fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self
            .info
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::InvalidArgument("chat: this model has no chat template (tokenizer_config.json has no \"chat_template\")".into()))?;
        if messages.is_empty() {
            return Err(Error::InvalidArgument("chat: no messages".into()));
        }
        for m in messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "tool") {
                return Err(Error::InvalidArgument(format!("chat: unknown role {:?}: expected \"system\", \"user\", \"assistant\" or \"tool\"", m.role)));
            }
        }
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        let err = |e: minijinja::Error| Error::InvalidArgument(format!("chat template: {e}"));
        env.add_template("chat", template).map_err(err)?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.info.bos_token.clone().unwrap_or_default(),
            eos_token => self.info.eos_token.clone().unwrap_or_default(),
        };
        env.get_template("chat").map_err(err)?.render(ctx).map_err(err)
    }
}

/// One chat turn.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// How tokens are chosen and when generation stops.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// 0: greedy (the most likely token, picked on the GPU where the model runs).
    pub temperature: f32,
    /// Sample from the `top_k` most likely tokens only (0: all).
    pub top_k: usize,
    /// Sample from the fewest tokens whose probabilities reach `top_p` (1: all).
    pub top_p: f32,
    /// transformers' repetition penalty on every token of prompt and output (1: none).
    pub repetition_penalty: f32,
    pub seed: u64,
    /// Generation ends before the first occurrence of any of these.
    pub stop: Vec<String>,
    /// Keep going past end-of-sequence tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_new_tokens: 128, temperature: 0.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, seed: 0, stop: Vec::new(), ignore_eos: false }
    }
}

impl GenerateOptions {
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: String| Err(Error::InvalidArgument(format!("generate: {what}, got {v}")));
        if self.max_new_tokens == 0 {
            return bad("maxNewTokens must be at least 1", "0".into());
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be 0 (greedy) or positive", self.temperature.to_string());
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("topP must be in (0, 1]", self.top_p.to_string());
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetitionPenalty must be positive", self.repetition_penalty.to_string());
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop strings must not be empty", format!("{:?}", self.stop));
        }
        Ok(())
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Eos,
    Stop,
    Length,
    Cancelled,
}

impl Finish {
    pub fn name(self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Cancelled => "cancelled",
        }
    }
}

/// One generated token and the text it completes (possibly empty: a piece of
/// a UTF-8 character, or text held back while it may begin a stop string).
#[derive(Clone, Debug)]
pub struct Piece {
    pub id: u32,
    pub text: String,
}

/// SplitMix64: a seeded, portable random stream for sampling.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks a token from `logits` by temperature, top-k and top-p (as
/// transformers' warpers do), after the repetition penalty.
pub fn sample(logits: &mut [f32], seen: &[u32], opt: &GenerateOptions, u: f64) -> u32 {
    penalize(logits, seen, opt.repetition_penalty);
    if opt.temperature == 0.0 {
        return argmax(logits);
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
    if opt.top_k > 0 {
        order.truncate(opt.top_k);
    }
    let m = logits[order[0] as usize];
    let mut probs: Vec<f64> = order.iter().map(|&i| (((logits[i as usize] - m) / opt.temperature) as f64).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if opt.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs.iter().position(|&p| {
            acc += p;
            acc >= opt.top_p as f64
        });
        let keep = keep.map_or(probs.len(), |i| i + 1);
        order.truncate(keep);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut r = u * total;
    for (&id, &p) in order.iter().zip(&probs) {
        if r < p {
            return id;
        }
        r -= p;
    }
    *order.last().expect("at least one token")
}

/// One generation in progress: call [`Generation::next`] until it returns
/// `None`. It owns its KV cache (freed with it).
pub struct Generation {
    model: Rc<Decoder>,
    opt: GenerateOptions,
    cache: KvCache,
    pub prompt_ids: Vec<u32>,
    pub ids: Vec<u32>,
    /// Distinct ids of prompt and output, for the repetition penalty.
    seen: Vec<u32>,
    rng: Rng,
    /// Text of the output so far, and how much of it was handed out.
    text: String,
    emitted: usize,
    pub finish: Option<Finish>,
    /// The first forward pass's logits (prefill), when asked for.
    pub first_logits: Option<Vec<f32>>,
    keep_first_logits: bool,
}

impl Generation {
    /// Checks the request and sizes the cache: prompt plus `max_new_tokens`
    /// must fit the model's context.
    pub fn new(model: Rc<Decoder>, prompt_ids: Vec<u32>, opt: GenerateOptions) -> Result<Generation> {
        model.check_request(prompt_ids.len(), &opt)?;
        // The last new token is never fed back, so it needs no cache row.
        let cache = model.new_cache(prompt_ids.len() + opt.max_new_tokens - 1)?;
        let mut seen = prompt_ids.clone();
        seen.sort_unstable();
        seen.dedup();
        let rng = Rng(opt.seed ^ 0x5eed_0000_0000_0000);
        Ok(Generation {
            model,
            opt,
            cache,
            prompt_ids,
            ids: Vec::new(),
            seen,
            rng,
            text: String::new(),
            emitted: 0,
            finish: None,
            first_logits: None,
            keep_first_logits: false,
        })
    }

    /// Keeps the prefill's last-position logits in `first_logits` (the CLI's `--logits`).
    pub fn keep_first_logits(&mut self) {
        self.keep_first_logits = true;
    }

    /// GPU memory of the KV cache.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.bytes()
    }

    /// The text generated so far (stop string excluded).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Ends the generation early (the model stays usable).
    pub fn cancel(&mut self) {
        if self.finish.is_none() {
            self.finish = Some(Finish::Cancelled);
        }
    }

    /// Runs one token: `None` once finished.
    pub async fn next(&mut self) -> Result<Option<Piece>> {
        if self.finish.is_some() {
            return Ok(None);
        }
        let input: Vec<u32> = match self.ids.last() {
            None => self.prompt_ids.clone(),
            Some(&id) => vec![id],
        };
        let logits = match self.model.forward(&input, &mut self.cache, false) {
            Ok(l) => l,
            Err(e) => {
                self.finish = Some(Finish::Cancelled);
                return Err(e);
            }
        };
        let first = self.ids.is_empty();
        let id = if self.opt.temperature == 0.0 && !(first && self.keep_first_logits) {
            // Greedy: on the GPU only the id comes back.
            greedy_token(&logits, if self.opt.repetition_penalty == 1.0 { &[] } else { &self.seen }, self.opt.repetition_penalty).await?
        } else {
            let mut v = logits.to_vec_f32().await?;
            if first && self.keep_first_logits {
                self.first_logits = Some(v.clone());
            }
            let u = self.rng.next_f64();
            sample(&mut v, &self.seen, &self.opt, u)
        };
        self.ids.push(id);
        if let Err(i) = self.seen.binary_search(&id) {
            self.seen.insert(i, id);
        }
        if !self.opt.ignore_eos && self.model.info.eos.contains(&id) {
            self.finish = Some(Finish::Eos);
            let text = self.flush();
            return Ok(Some(Piece { id, text }));
        }
        if self.ids.len() >= self.opt.max_new_tokens {
            self.finish = Some(Finish::Length);
        }
        let text = self.update_text()?;
        Ok(Some(Piece { id, text }))
    }

    /// Decodes the output so far and returns the part not handed out yet
    /// that is certain: not an incomplete UTF-8 character (decoded as
    /// U+FFFD at the end) and not the start of a stop string.
    fn update_text(&mut self) -> Result<String> {
        let full = self.model.tokenizer.decode(&self.ids, false)?;
        // Earlier text stays as it was handed out; byte-level BPE only ever
        // completes the trailing replacement characters.
        let mut text = if full.starts_with(&self.text[..self.emitted]) {
            full
        } else {
            format!("{}{}", &self.text[..self.emitted], full.get(self.emitted..).unwrap_or(""))
        };
        let search_from = self.emitted.saturating_sub(self.opt.stop.iter().map(String::len).max().unwrap_or(0));
        let search_from = (0..=search_from).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        if let Some(at) = self.opt.stop.iter().filter_map(|s| text[search_from..].find(s.as_str()).map(|i| i + search_from)).min() {
            text.truncate(at.max(self.emitted));
            self.text = text;
            self.finish = Some(Finish::Stop);
            return Ok(self.flush());
        }
        self.text = text;
        if self.finish.is_some() {
            return Ok(self.flush());
        }
        let mut end = self.text.len();
        while self.text[..end].ends_with('\u{FFFD}') {
            end -= '\u{FFFD}'.len_utf8();
        }
        // Hold back a suffix that could begin a stop string.
        let hold =
            self.opt.stop.iter().filter_map(|s| (1..s.len()).rev().find(|&k| s.is_char_boundary(k) && self.text[..end].ends_with(&s[..k]))).max().unwrap_or(0);
        let end = end - hold;
        let end = end.max(self.emitted);
        let piece = self.text[self.emitted..end].to_string();
        self.emitted = end;
        Ok(piece)
    }

    /// Everything not handed out yet (at the end).
    fn flush(&mut self) -> String {
        let piece = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        piece
    }
}
