//! A Hugging Face `tokenizer.json` and `tokenizer_config.json` rebuilt from a
//! GGUF's tokenizer metadata (llama.cpp's keys under `tokenizer.ggml.*`).
//!
//! Only byte-level BPE (`tokenizer.ggml.model = gpt2`) is rebuilt: the vocabulary
//! and merges as they are, tokens of type CONTROL (3) as special added tokens,
//! USER_DEFINED (4) as plain added tokens, and the pre-tokenizer that
//! `tokenizer.ggml.pre` names (see [`pre_tokenizer`] and `docs/FORMAT.md`).

use super::gguf::Gguf;
use super::gguf_types::Value;
use crate::error::bad;
use crate::error::Result;
use serde_json::{json, Map};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The pre-tokenizer split of the GPT-4-style (cl100k) families, as llama.cpp writes it.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-2's byte → printable character table: byte-level vocabularies spell
/// every byte as one of these 256 characters (a space is `Ġ`, U+0120).
pub fn byte_alphabet() -> [char; 256] {
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let b = b as u32;
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        // Every value is below 0x180, a valid scalar.
        *slot = char::from_u32(c).unwrap_or('\u{FFFD}');
    }
    table
}

/// The pre-tokenizer that llama.cpp applies for `tokenizer.ggml.pre = pre`, in
/// `tokenizer.json` form, or `None` for one webfm does not know.
///
/// - GPT-2 (`gpt2`, `default`, `mpt`, `olmo`, `jais`): ByteLevel with GPT-2's regex.
/// - StarCoder family (`smollm`, `starcoder`, `refact`, `command-r`, `codeshell`,
///   `exaone`, `minerva-7b`): every digit on its own (`Digits`), then
///   ByteLevel with GPT-2's regex: llama.cpp's `\p{N}` split followed by the GPT-2
///   one, and the layout of SmolLM2's own `tokenizer.json`.
/// - Llama 3 and Qwen2 families: their `Split` regex, then ByteLevel without a regex.
pub fn pre_tokenizer(pre: &str, add_prefix_space: bool) -> Option<serde_json::Value> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": true, "use_regex": use_regex});
    let split = |re: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false},
            byte_level(false)]})
    };
    Some(match pre {
        "gpt2" | "default" | "mpt" | "olmo" | "jais" => byte_level(true),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]})
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" => split(LLAMA3_SPLIT),
        "qwen2" | "deepseek-r1-qwen" | "megrez" => split(QWEN2_SPLIT),
        _ => return None,
    })
}

fn strings<'a>(g: &'a Gguf, k: &str) -> Result<Vec<&'a str>> {
    let v = g.get(k).ok_or_else(|| bad(&g.file, None, format!("metadata key '{k}'"), "no such key"))?;
    let items = v.as_array().ok_or_else(|| bad(&g.file, None, format!("an array of strings for '{k}'"), format!("a {:?}", v.value_type())))?;
    items.iter().enumerate().map(|(i, s)| s.as_str().ok_or_else(|| bad(&g.file, None, format!("a string at '{k}'[{i}]"), format!("{s:?}")))).collect()
}

fn token_id(g: &Gguf, k: &str, n_tokens: usize) -> Result<Option<usize>> {
    let Some(v) = g.get(k) else { return Ok(None) };
    match v.as_u64().and_then(|x| usize::try_from(x).ok()) {
        Some(id) if id < n_tokens => Ok(Some(id)),
        _ => Err(bad(&g.file, None, format!("a token id below the vocabulary size {n_tokens} for '{k}'"), format!("{v:?}"))),
    }
}

/// `(tokenizer.json, tokenizer_config.json)` for the GGUF's tokenizer.
pub fn hf_tokenizer(g: &Gguf) -> Result<(serde_json::Value, serde_json::Value)> {
    let model = g.get("tokenizer.ggml.model").and_then(Value::as_str);
    if model != Some("gpt2") {
        let found = model.map_or("no tokenizer.ggml.model key".to_string(), |m| format!("tokenizer.ggml.model '{m}'"));
        return Err(bad(&g.file, None, "a byte-level BPE tokenizer (tokenizer.ggml.model 'gpt2'), the one kind webfm rebuilds", found));
    }
    let pre_name = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let add_prefix_space = g.get("tokenizer.ggml.add_space_prefix").and_then(Value::as_bool).unwrap_or(false);
    let pre = pre_tokenizer(pre_name, add_prefix_space)
        .ok_or_else(|| bad(&g.file, None, "a tokenizer.ggml.pre that webfm knows (gpt2, smollm, starcoder, llama-bpe, qwen2, ...)", format!("'{pre_name}'")))?;

    let tokens = strings(g, "tokenizer.ggml.tokens")?;
    let types: Vec<i64> = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
        Some(t) if t.len() == tokens.len() => t.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
        Some(t) => return Err(bad(&g.file, None, format!("{} token types, one per token", tokens.len()), format!("{}", t.len()))),
        None => vec![1; tokens.len()],
    };
    let merges = strings(g, "tokenizer.ggml.merges")?;

    // A token outside the byte alphabet is spelled by its UTF-8 bytes (as
    // transformers does); a repeated spelling keeps its last id (as llama.cpp
    // and transformers do).
    let alphabet = byte_alphabet();
    let spelled = |t: &str| -> String {
        if t.chars().all(|c| alphabet.contains(&c)) {
            t.to_string()
        } else {
            t.bytes().map(|b| alphabet[b as usize]).collect()
        }
    };
    let mut vocab = Map::with_capacity(tokens.len());
    let mut added = Vec::new();
    for (id, (&t, &ty)) in tokens.iter().zip(&types).enumerate() {
        let s = spelled(t);
        vocab.insert(s.clone(), json!(id));
        // A CONTROL token must be written in the byte alphabet (else llama.cpp mislabelled it).
        if (ty == CONTROL && s == t) || ty == USER_DEFINED {
            added.push(json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": ty == CONTROL}));
        }
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        match m.split(' ').collect::<Vec<_>>()[..] {
            // tokenizers refuses a merge whose parts or result are not in the vocabulary.
            [a, b] if [a, b, &format!("{a}{b}")].iter().all(|t| !t.is_empty() && vocab.contains_key(*t)) => pairs.push(json!([a, b])),
            _ => {
                return Err(bad(
                    &g.file,
                    None,
                    format!("a merge of two tokens separated by one space, both and their concatenation in the vocabulary, at tokenizer.ggml.merges[{i}]"),
                    format!("{m:?}"),
                ))
            }
        }
    }

    let n = tokens.len();
    let special = |k: &str| -> Result<Option<&str>> { Ok(token_id(g, &format!("tokenizer.ggml.{k}"), n)?.map(|id| tokens[id])) };
    let (bos, eos, unk, pad) = (special("bos_token_id")?, special("eos_token_id")?, special("unknown_token_id")?, special("padding_token_id")?);
    let flag = |k: &str| g.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (add_bos, add_eos) = (flag("tokenizer.ggml.add_bos_token"), flag("tokenizer.ggml.add_eos_token"));
    let post = post_processor(add_bos.then_some(bos).flatten(), add_eos.then_some(eos).flatten(), &tokens);

    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": pairs,
        },
    });

    let mut config = Map::new();
    // Not GPT2Tokenizer: transformers 5 would rebuild GPT-2's pre-tokenizer and
    // ignore this file's (SmolLM2's digit split); the generic class reads it as written.
    config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    config.insert("add_bos_token".into(), json!(add_bos));
    config.insert("add_eos_token".into(), json!(add_eos));
    config.insert("add_prefix_space".into(), json!(add_prefix_space));
    config.insert("clean_up_tokenization_spaces".into(), json!(false));
    for (k, v) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unk), ("pad_token", pad)] {
        if let Some(v) = v {
            config.insert(k.into(), json!(v));
        }
    }
    if let Some(arch) = g.get("general.architecture").and_then(Value::as_str) {
        if let Some(n) = g.get(&format!("{arch}.context_length")).and_then(Value::as_u64) {
            config.insert("model_max_length".into(), json!(n));
        }
    }
    if let Some(t) = g.get("tokenizer.chat_template").and_then(Value::as_str) {
        config.insert("chat_template".into(), json!(t));
    }
    Ok((tokenizer, serde_json::Value::Object(config)))
}

/// Adds BOS / EOS around each sequence when the GGUF asks for them; otherwise
/// the ByteLevel post-processor (which only adjusts offsets).
fn post_processor(bos: Option<&str>, eos: Option<&str>, tokens: &[&str]) -> serde_json::Value {
    if bos.is_none() && eos.is_none() {
        return json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true});
    }
    let id_of = |t: &str| tokens.iter().rposition(|&x| x == t).unwrap_or(0);
    let tok = |t: &str, type_id: u32| json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let seq = |s: &str, type_id: u32| json!({"Sequence": {"id": s, "type_id": type_id}});
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials = Map::new();
    for (part, type_id) in [("A", 0u32), ("B", 1)] {
        let out = if part == "A" { &mut single } else { &mut pair };
        bos.into_iter().for_each(|b| out.push(tok(b, type_id)));
        out.push(seq(part, type_id));
        eos.into_iter().for_each(|e| out.push(tok(e, type_id)));
    }
    let pair: Vec<_> = single.iter().cloned().chain(pair).collect();
    for t in bos.into_iter().chain(eos) {
        specials.insert(t.into(), json!({"id": t, "ids": [id_of(t)], "tokens": [t]}));
    }
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_is_gpt2s() {
        let a = byte_alphabet();
        assert_eq!((a[b' ' as usize], a[b'\n' as usize], a[b'!' as usize], a[0]), ('Ġ', 'Ċ', '!', 'Ā'));
        assert_eq!(a[0xAD], 'Ń');
        let mut sorted = a.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 256, "one character per byte");
    }
}
