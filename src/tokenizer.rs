//! Tokenization with Hugging Face's `tokenizer.json` (the `tokenizers` crate,
//! no C code). Padding and truncation settings in the file are switched off:
//! webfm pads batches itself and truncates to the model's positions.

use crate::error::{Error, Result};
use tokenizers::{PostProcessor, TruncationDirection};

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

/// One text's tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Whether tokens were dropped to fit the maximum length.
    pub truncated: bool,
}

/// Checks every `"Precompiled"` normalizer (in a `Sequence` too) the way
/// tokenizers reads it, which panics where this returns the error.
fn check_precompiled(v: &serde_json::Value) -> std::result::Result<(), String> {
    match v {
        serde_json::Value::Array(a) => a.iter().try_for_each(check_precompiled),
        serde_json::Value::Object(o) if o.get("type").and_then(|t| t.as_str()) == Some("Precompiled") => {
            // From text, as tokenizers does: the charsmap is read as a borrowed string.
            serde_json::from_str::<tokenizers::normalizers::precompiled::Precompiled>(&v.to_string())
                .map(|_| ())
                .map_err(|e| format!("a Precompiled normalizer whose precompiled_charsmap does not parse: {e}"))
        }
        serde_json::Value::Object(o) => o.values().try_for_each(check_precompiled),
        _ => Ok(()),
    }
}

/// Checks a `"post_processor"` (and those of a `"processors"` list) for what
/// `TemplateProcessing` indexes without checking when it encodes: every
/// special token a template names is in its `"special_tokens"`, and the
/// single template uses only sequence A. By shape, not by `"type"`, which
/// tokenizers does not check for it.
fn check_post_processor(p: &serde_json::Value) -> std::result::Result<(), String> {
    if let Some(ps) = p.get("processors").and_then(|v| v.as_array()) {
        ps.iter().try_for_each(check_post_processor)?;
    }
    let tokens = p.get("special_tokens").and_then(|v| v.as_object());
    for (template, sequences) in [("single", &["A"][..]), ("pair", &["A", "B"][..])] {
        for piece in p.get(template).and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(id) = piece.pointer("/SpecialToken/id").and_then(|v| v.as_str()) {
                if !tokens.is_some_and(|t| t.contains_key(id)) {
                    return Err(format!("post_processor {template} template naming {id:?}, which is not among its special_tokens"));
                }
            }
            if let Some(seq) = piece.pointer("/Sequence/id").and_then(|v| v.as_str()) {
                if !sequences.contains(&seq) {
                    return Err(format!("post_processor {template} template using sequence {seq:?}"));
                }
            }
        }
    }
    Ok(())
}

impl Tokenizer {
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Tokenizer> {
        let bad = |found: String| Error::Format { file: file.into(), tensor: None, expected: "a Hugging Face tokenizer.json".into(), found };
        // What tokenizers 0.23 panics on instead of an error (found by
        // fuzzing, tests/fuzz-regressions/tokenizer-*): malformed JSON inside
        // "decoder" (`expect("Helper")`), a "Precompiled" normalizer whose
        // charsmap does not parse (`expect("Precompiled")`), and
        // post-processor templates it indexes unchecked.
        // Read whole (not skipped, which lets a lone surrogate through):
        // "decoder", "normalizer" and "post_processor".
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "decoder")]
            _decoder: Option<serde_json::Value>,
            normalizer: Option<serde_json::Value>,
            post_processor: Option<serde_json::Value>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        head.normalizer.as_ref().map_or(Ok(()), check_precompiled).map_err(bad)?;
        head.post_processor.as_ref().map_or(Ok(()), check_post_processor).map_err(bad)?;
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| Error::InvalidArgument(format!("{file}: cannot switch truncation off: {e}")))?;
        Ok(Tokenizer { inner })
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The largest id the tokenizer can produce, plus one.
    pub fn id_bound(&self) -> usize {
        let vocab = self.inner.get_vocab(true);
        vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0)
    }

    /// An error unless every id this tokenizer produces is below the model's
    /// `vocab_size` (a tokenizer from another model would index past the
    /// embedding table).
    pub fn check_fits(&self, vocab: usize) -> Result<()> {
        let bound = self.id_bound();
        if bound > vocab {
            return Err(crate::error::bad(
                "tokenizer.json",
                None,
                format!("token ids below the model's vocab_size {vocab} (config.json)"),
                format!("ids up to {}: this tokenizer belongs to another model", bound - 1),
            ));
        }
        Ok(())
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encodes `text` with the special tokens of the file's post-processor.
    /// With `max_len`, longer results are truncated to it (special tokens
    /// kept) and marked; without, they are returned whole.
    pub fn encode(&self, text: &str, max_len: Option<usize>) -> Result<Encoded> {
        let err = |e: tokenizers::Error| Error::InvalidArgument(format!("tokenizer: {e}"));
        let mut e = self.inner.encode(text, false).map_err(err)?;
        let special = self.inner.get_post_processor().map(|p| p.added_tokens(false)).unwrap_or(0);
        let truncated = max_len.is_some_and(|max| e.len() + special > max);
        if let (true, Some(max)) = (truncated, max_len) {
            if max <= special {
                return Err(Error::InvalidArgument(format!("tokenizer: a maximum of {max} tokens leaves no room besides the {special} special tokens")));
            }
            e.truncate(max - special, 0, TruncationDirection::Right);
        }
        let e = self.inner.post_process(e, None, true).map_err(err)?;
        Ok(Encoded { ids: e.get_ids().to_vec(), type_ids: e.get_type_ids().to_vec(), truncated })
    }

    /// The text's tokens alone: no special tokens, never truncated.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let e = self.inner.encode(text, false).map_err(|e| Error::InvalidArgument(format!("tokenizer: {e}")))?;
        Ok(e.get_ids().to_vec())
    }

    /// Encodes a text pair (`[CLS] a [SEP] b [SEP]` for BERT, type ids 0 then
    /// 1). Pairs are not truncated: longer than `max_len` is an error.
    pub fn encode_pair(&self, a: &str, b: &str, max_len: Option<usize>) -> Result<Encoded> {
        let e = self.inner.encode((a, b), true).map_err(|e| Error::InvalidArgument(format!("tokenizer: {e}")))?;
        if let Some(max) = max_len.filter(|&m| e.len() > m) {
            return Err(Error::InvalidArgument(format!("the text pair has {} tokens, more than the {max} this model takes", e.len())));
        }
        Ok(Encoded { ids: e.get_ids().to_vec(), type_ids: e.get_type_ids().to_vec(), truncated: false })
    }

    /// The tokenizer as `tokenizer.json` would hold it.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.inner).map_err(|e| Error::InvalidArgument(format!("tokenizer: cannot serialise: {e}")))
    }

    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(|e| Error::InvalidArgument(format!("tokenizer: {e}")))
    }
}
