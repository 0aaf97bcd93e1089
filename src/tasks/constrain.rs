//! Constrained decoding: a grammar (any JSON object, a JSON schema, a
//! regular expression or a Lark grammar) compiled by llguidance into a token
//! mask at every step, so that only tokens that keep the output valid can be
//! picked. The mask is a bitset over the model's logits (bit `i % 32` of word
//! `i / 32` allows token `i`), applied before the argmax on the GPU or on the
//! CPU before sampling.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};

use crate::error::{Error, Result};
use crate::models::decoder::Decoder;

/// What the output must match.
#[derive(Clone, Debug, PartialEq)]
pub enum Grammar {
    /// Any JSON object (`response_format: { type: "json_object" }`).
    JsonObject,
    /// A value valid for this JSON schema.
    JsonSchema(serde_json::Value),
    /// A regular expression (the whole output matches it).
    Regex(String),
    /// A Lark grammar (llguidance's dialect: `start: ...`, `%json { schema }`).
    Lark(String),
}

/// The JSON layout forced unless a schema asks otherwise (`"x-guidance"`):
/// no free whitespace, so a model cannot fill its budget with newlines.
fn json_layout() -> serde_json::Value {
    serde_json::json!({ "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": " })
}

impl Grammar {
    fn top_level(&self) -> Result<TopLevelGrammar> {
        let schema = |mut s: serde_json::Value| -> Result<TopLevelGrammar> {
            let Some(o) = s.as_object_mut() else {
                return Err(Error::InvalidArgument(format!("json schema: expected an object, got {s}")));
            };
            o.entry("x-guidance").or_insert_with(json_layout);
            Ok(TopLevelGrammar::from_json_schema(s))
        };
        match self {
            Grammar::JsonObject => schema(serde_json::json!({ "type": "object" })),
            Grammar::JsonSchema(s) => schema(s.clone()),
            Grammar::Regex(r) => Ok(TopLevelGrammar::from_regex(r)),
            Grammar::Lark(g) => Ok(TopLevelGrammar::from_lark(g.clone())),
        }
    }
}

/// The tokenizer as llguidance sees it (every token's bytes, in a trie) and
/// the parser factory over it: built once per model, on first use.
pub struct GrammarEnv {
    factory: ParserFactory,
    vocab: usize,
    /// The model's end-of-sequence ids: the first stands for all in the grammar.
    eos: Vec<u32>,
}

impl GrammarEnv {
    fn new(m: &Decoder) -> Result<GrammarEnv> {
        let err = |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("constrained decoding: {e}"));
        let json = m.tokenizer().to_json().map_err(|e| err(&e))?;
        let mut words = llguidance::token_bytes_from_tokenizer_json(&json).map_err(|e| err(&e))?;
        if words.len() > m.info.vocab {
            return Err(err(&format!("the tokenizer has {} tokens, more than the model's {} logits", words.len(), m.info.vocab)));
        }
        // Logits past the tokenizer's tokens (padding rows) are never allowed.
        words.resize(m.info.vocab, Vec::new());
        let eos = *m.info.eos.first().ok_or_else(|| err(&"the model names no end-of-sequence token"))?;
        let trie = TokTrie::from(&TokRxInfo::new(m.info.vocab as u32, eos), &words);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| err(&e))?;
        factory.quiet();
        Ok(GrammarEnv { factory, vocab: m.info.vocab, eos: m.info.eos.clone() })
    }
}

/// One constrained generation's state: where the output is in the grammar.
pub struct Constraint {
    matcher: Matcher,
    vocab: usize,
    eos: Vec<u32>,
    bits: Vec<u32>,
}

impl Constraint {
    /// Compiles `grammar` for `m`'s tokenizer; a grammar that does not
    /// compile (a bad schema or regular expression) is an error here.
    pub fn new(m: &Decoder, grammar: &Grammar) -> Result<Constraint> {
        let env = m.task_cache(GrammarEnv::new)?;
        let parser = env.factory.create_parser(grammar.top_level()?);
        let matcher = Matcher::new(parser);
        if let Some(e) = matcher.get_error() {
            return Err(Error::InvalidArgument(format!("grammar: {e}")));
        }
        Ok(Constraint { matcher, vocab: env.vocab, eos: env.eos.clone(), bits: vec![0; env.vocab.div_ceil(32)] })
    }

    fn failed(&self, what: &str) -> Error {
        Error::InvalidArgument(format!("constrained decoding: {what}: {}", self.matcher.get_error().unwrap_or_default()))
    }

    /// The tokens allowed next, as a bitset over the logits (the model's
    /// end-of-sequence token where the output is complete).
    pub fn mask(&mut self) -> Result<&[u32]> {
        let vob = self.matcher.compute_mask_or_eos().map_err(|_| self.failed("no token can continue the output"))?;
        let words = vob.as_slice();
        self.bits.fill(0);
        let n = words.len().min(self.bits.len());
        self.bits[..n].copy_from_slice(&words[..n]);
        let on = |bits: &[u32], id: u32| bits.get(id as usize / 32).is_some_and(|w| w & (1 << (id % 32)) != 0);
        if on(&self.bits, self.eos[0]) {
            for &id in &self.eos[1..] {
                if let Some(w) = self.bits.get_mut(id as usize / 32) {
                    *w |= 1 << (id % 32);
                }
            }
        }
        if let Some(last) = self.bits.last_mut() {
            let tail = self.vocab % 32;
            if tail != 0 {
                *last &= (1u32 << tail) - 1;
            }
        }
        if self.bits.iter().all(|&w| w == 0) {
            return Err(self.failed("the grammar allows no token here"));
        }
        Ok(&self.bits)
    }

    /// Moves past the token picked.
    pub fn consume(&mut self, id: u32) -> Result<()> {
        // Any end-of-sequence id is the grammar's one.
        let id = if self.eos.contains(&id) { self.eos[0] } else { id };
        self.matcher.consume_token(id).map_err(|_| self.failed(&format!("token {id} does not fit the grammar")))
    }

    /// The output is complete and nothing may follow.
    pub fn is_done(&self) -> bool {
        self.matcher.is_stopped()
    }
}
