//! The generation loop: options and their checks, and a step-by-step
//! [`Generation`] that streams text pieces (correct across tokens that split
//! a UTF-8 character) and stops at an end-of-sequence token, a stop string or
//! the token budget.

use std::rc::Rc;

use super::constrain::{Constraint, Grammar};
use super::sample::{sample, Rng};
use crate::error::{Error, Result};
use crate::models::decoder::Decoder;
use crate::ops::decoder::{apply_mask, greedy_token, KvCache};

impl Decoder {
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
        self.check_cache(need)
    }
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
    /// Only output this grammar allows (JSON, a schema, a regular expression).
    pub grammar: Option<Grammar>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
            stop: Vec::new(),
            ignore_eos: false,
            grammar: None,
        }
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
        if self.grammar.is_some() && self.ignore_eos {
            return bad("ignoreEos cannot be used with a grammar (its end is the end-of-sequence token)", "true".into());
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
    /// Where the output is in its grammar, when constrained.
    constraint: Option<Constraint>,
    /// Milliseconds spent computing the grammar's masks.
    pub mask_millis: f64,
}

impl Generation {
    /// Checks the request and sizes the cache: prompt plus `max_new_tokens`
    /// must fit the model's context.
    pub fn new(model: Rc<Decoder>, prompt_ids: Vec<u32>, opt: GenerateOptions) -> Result<Generation> {
        let constraint = opt.grammar.as_ref().map(|g| Constraint::new(&model, g)).transpose()?;
        Generation::with_constraint(model, prompt_ids, opt, constraint)
    }

    /// As [`Generation::new`], with `opt.grammar` already compiled (by a
    /// caller that checked it before the generation's turn came).
    pub fn with_constraint(model: Rc<Decoder>, prompt_ids: Vec<u32>, opt: GenerateOptions, constraint: Option<Constraint>) -> Result<Generation> {
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
            constraint,
            mask_millis: 0.0,
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
        // The grammar's allowed tokens, borrowed from the constraint (no copy per token).
        let mask = match self.constraint.as_mut() {
            Some(c) => {
                let t0 = crate::platform::now_ms();
                let bits = c.mask();
                self.mask_millis += crate::platform::now_ms() - t0;
                match bits {
                    Ok(b) => Some(b),
                    Err(e) => {
                        self.finish = Some(Finish::Cancelled);
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let id = if self.opt.temperature == 0.0 && !(first && self.keep_first_logits) {
            // Greedy: on the GPU only the id comes back.
            let seen: &[u32] = if self.opt.repetition_penalty == 1.0 { &[] } else { &self.seen };
            greedy_token(&logits, seen, self.opt.repetition_penalty, mask).await?
        } else {
            let mut v = logits.to_vec_f32().await?;
            if first && self.keep_first_logits {
                self.first_logits = Some(v.clone());
            }
            if let Some(bits) = mask {
                apply_mask(&mut v, bits);
            }
            let u = self.rng.next_f64();
            sample(&mut v, &self.seen, &self.opt, u)
        };
        if let Some(c) = self.constraint.as_mut() {
            if let Err(e) = c.consume(id) {
                self.finish = Some(Finish::Cancelled);
                return Err(e);
            }
        }
        self.ids.push(id);
        if let Err(i) = self.seen.binary_search(&id) {
            self.seen.insert(i, id);
        }
        if self.constraint.as_ref().is_some_and(Constraint::is_done) && !self.model.info.eos.contains(&id) {
            // The grammar is complete: nothing may follow, as after an end-of-sequence token.
            self.finish = Some(Finish::Eos);
            let text = self.update_text()?;
            return Ok(Some(Piece { id, text }));
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
        let full = self.model.tokenizer().decode(&self.ids, false)?;
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
