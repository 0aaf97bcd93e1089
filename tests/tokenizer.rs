//! tokenizer.json rebuilt from GGUF metadata, loaded with the `tokenizers`
//! crate: a tiny synthetic vocabulary for every rule, and SmolLM2-135M-Instruct
//! against the golden ids of tests/golden/smollm2_tokenizer.json (made by
//! tests/golden/make_tokenizer_golden.py with transformers).

mod common;

use common::write_gguf;
use std::str::FromStr;
use tokenizers::Tokenizer;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_tokenizer::{byte_alphabet, hf_tokenizer, pre_tokenizer};
use webfm::weights::gguf_types::{Value, ValueType};

fn strs(xs: &[&str]) -> Value {
    Value::Array(ValueType::String, xs.iter().map(|s| Value::String(s.to_string())).collect())
}

/// A byte-level vocabulary: three control tokens, the 256 byte characters, a
/// few merged tokens, one user-defined token and one token written in plain
/// UTF-8 ("€", outside the byte alphabet).
fn tiny_gguf(pre: &str, model: &str, add_bos: bool) -> Vec<u8> {
    let alphabet: Vec<String> = byte_alphabet().iter().map(|c| c.to_string()).collect();
    let mut tokens: Vec<&str> = vec!["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    tokens.extend(alphabet.iter().map(String::as_str));
    tokens.extend(["ĠĠ", "Ġa", "Ġab", "12", "<think>", "€"]);
    let mut types = vec![3, 3, 3];
    types.extend(std::iter::repeat_n(1, 256 + 4));
    types.extend([4, 1]);
    let meta = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.context_length", Value::U32(64)),
        ("tokenizer.ggml.model", Value::String(model.into())),
        ("tokenizer.ggml.pre", Value::String(pre.into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.token_type", Value::Array(ValueType::I32, types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.merges", strs(&["Ġ Ġ", "Ġ a", "Ġa b", "1 2"])),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(add_bos)),
        ("tokenizer.chat_template", Value::String("{{ messages }}".into())),
    ];
    write_gguf(3, &meta, &[])
}

fn build(bytes: &[u8]) -> webfm::Result<(Tokenizer, serde_json::Value)> {
    let g = Gguf::parse("tiny.gguf", bytes)?;
    let (json, config) = hf_tokenizer(&g)?;
    let tok = Tokenizer::from_str(&json.to_string()).expect("tokenizers reads the rebuilt tokenizer.json");
    Ok((tok, config))
}

fn tokens(tok: &Tokenizer, text: &str, special: bool) -> Vec<String> {
    tok.encode(text, special).expect("encode").get_tokens().to_vec()
}

#[test]
fn smollm_pre_tokenizer_splits_digits_and_keeps_special_tokens_whole() {
    let (tok, config) = build(&tiny_gguf("smollm", "gpt2", false)).unwrap();
    let text = "a  ab 12<|im_end|><think>";
    // Digits first: " 12" never reaches BPE whole, so the "1 2" merge cannot apply.
    assert_eq!(tokens(&tok, text, false), ["a", "Ġ", "Ġab", "Ġ", "1", "2", "<|im_end|>", "<think>"]);
    assert_eq!(tokens(&tok, text, true), tokens(&tok, text, false), "no BOS: add_bos_token is false");
    let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!(tok.decode(&ids, true).unwrap(), "a  ab 12<think>", "control tokens are special, user-defined ones are not");
    assert_eq!(tok.token_to_id("âĤ¬"), Some(3 + 256 + 5), "a token outside the byte alphabet is spelled by its UTF-8 bytes");
    assert_eq!(config["bos_token"], "<|im_start|>");
    assert_eq!(config["eos_token"], "<|im_end|>");
    assert_eq!(config["unk_token"], "<|endoftext|>");
    assert_eq!(config["chat_template"], "{{ messages }}");
    assert_eq!(config["model_max_length"], 64);
    assert_eq!(config["add_bos_token"], false);
    assert_eq!(config["tokenizer_class"], "PreTrainedTokenizerFast", "transformers then takes tokenizer.json as written");
}

#[test]
fn gpt2_pre_tokenizer_keeps_a_number_with_its_space() {
    let (tok, _) = build(&tiny_gguf("gpt2", "gpt2", false)).unwrap();
    assert_eq!(tokens(&tok, "a  ab 12", false), ["a", "Ġ", "Ġab", "Ġ", "12"]);
}

#[test]
fn add_bos_token_puts_bos_first() {
    let (tok, config) = build(&tiny_gguf("smollm", "gpt2", true)).unwrap();
    assert_eq!(tokens(&tok, "ab", true), ["<|im_start|>", "a", "b"]);
    assert_eq!(tokens(&tok, "ab", false), ["a", "b"]);
    assert_eq!(config["add_bos_token"], true);
}

#[test]
fn every_known_pre_tokenizer_loads_in_tokenizers() {
    for pre in ["gpt2", "smollm", "starcoder", "llama-bpe", "llama3", "qwen2"] {
        let json = pre_tokenizer(pre, false).unwrap_or_else(|| panic!("{pre} is known"));
        let p: tokenizers::PreTokenizerWrapper = serde_json::from_value(json).unwrap_or_else(|e| panic!("{pre}: {e}"));
        drop(p);
    }
    assert!(pre_tokenizer("no-such-pre", false).is_none());
}

#[test]
fn unsupported_tokenizers_are_errors_naming_them() {
    let msg = build(&tiny_gguf("smollm", "llama", false)).map(|_| ()).unwrap_err().to_string();
    assert!(msg.contains("tiny.gguf") && msg.contains("tokenizer.ggml.model 'llama'") && msg.contains("gpt2"), "{msg}");
    let msg = build(&tiny_gguf("mystery", "gpt2", false)).map(|_| ()).unwrap_err().to_string();
    assert!(msg.contains("tokenizer.ggml.pre") && msg.contains("'mystery'"), "{msg}");
    let msg = build(&write_gguf(3, &[], &[])).map(|_| ()).unwrap_err().to_string();
    assert!(msg.contains("no tokenizer.ggml.model key"), "{msg}");
}

#[test]
fn smollm2_matches_the_golden_ids() {
    let Some(path) = common::smollm2_gguf() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let g = Gguf::parse("SmolLM2-135M-Instruct.Q4_1.gguf", &bytes).unwrap();
    let (json, config) = hf_tokenizer(&g).unwrap();
    let tok = Tokenizer::from_str(&json.to_string()).unwrap();
    assert_eq!(tok.get_vocab_size(true), 49152);
    assert_eq!((config["bos_token"].as_str(), config["eos_token"].as_str()), (Some("<|im_start|>"), Some("<|im_end|>")));
    assert!(config["chat_template"].as_str().is_some_and(|t| t.contains("<|im_start|>")));

    let golden: serde_json::Value = serde_json::from_str(include_str!("golden/smollm2_tokenizer.json")).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let ids_of = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain.get_ids(), ids_of(&case["ids"]), "{text:?} (add_special_tokens = false)");
        assert_eq!(tok.encode(text, true).unwrap().get_ids(), ids_of(&case["ids_default"]), "{text:?} (default)");
        assert_eq!(tok.decode(plain.get_ids(), false).unwrap(), case["decoded"].as_str().unwrap(), "{text:?} decoded");
    }
    eprintln!("SmolLM2: {} golden strings give the same ids ({})", cases.len(), golden["versions"]);
}
