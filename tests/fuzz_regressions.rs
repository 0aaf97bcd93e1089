//! The fuzz targets of `fuzz/` on plain `cargo test`: every input a fuzzer
//! once crashed on (`tests/fuzz-regressions/<target>-<hash>`) is fed to the
//! target it names and must come back without a panic, and the seeds
//! `scripts/fuzz.sh` starts each target from are built here and checked to be
//! inputs its reader accepts (with `WEBFM_FUZZ_SEEDS` set they are also
//! written into `fuzz/corpus/<target>/`).

mod common;
#[path = "../fuzz/exercise.rs"]
mod exercise;

use common::{random_data, write_gguf, GgufTensor, Rng};
use exercise::{frame, join2, target_of, TARGETS, TINY};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use webfm::weights::gguf_types::{GgmlType, Value, ValueType};
use webfm::weights::safetensors::Header;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `target` on `bytes`; the panic's message when it panics.
fn panics(target: &str, bytes: &[u8]) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| exercise::run(target, bytes)));
    let e = r.err()?;
    Some(e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default())
}

#[test]
fn kept_fuzz_inputs_do_not_panic() {
    let dir = root().join("tests/fuzz-regressions");
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        let target = target_of(name).unwrap_or_else(|| panic!("tests/fuzz-regressions/{name}: the name starts with no target of {TARGETS:?}"));
        let bytes = std::fs::read(dir.join(name)).unwrap();
        if let Some(msg) = panics(target, &bytes) {
            failures.push(format!("{name} ({target}): {msg}"));
        }
    }
    assert!(failures.is_empty(), "kept fuzz inputs that panic:\n{}", failures.join("\n"));
    eprintln!("{} kept fuzz inputs replayed, none panics", names.len());
}

#[test]
fn file_names_pick_their_target() {
    assert_eq!(target_of("gguf-crash-9622e871"), Some("gguf"));
    assert_eq!(target_of("gguf_model-0123abcd"), Some("gguf_model"));
    assert_eq!(target_of("safetensors_stream-crash-1"), Some("safetensors_stream"));
    assert_eq!(target_of("ggufx-1"), None);
}

/// A tiny Llama GGUF with a byte-level tokenizer: 2 layers, hidden 64, 4 heads, 2 KV heads.
fn llama_gguf() -> Vec<u8> {
    let strs = |xs: Vec<String>| Value::Array(ValueType::String, xs.into_iter().map(Value::String).collect());
    let alphabet = webfm::weights::gguf_tokenizer::byte_alphabet().map(|c| c.to_string());
    let tokens: Vec<String> = ["<|endoftext|>".to_string()].into_iter().chain(alphabet).chain(["Ġt".to_string()]).collect();
    let u = Value::U32;
    let meta = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", u(2)),
        ("llama.context_length", u(128)),
        ("llama.embedding_length", u(64)),
        ("llama.feed_forward_length", u(96)),
        ("llama.attention.head_count", u(4)),
        ("llama.attention.head_count_kv", u(2)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(100000.0)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", strs(tokens)),
        ("tokenizer.ggml.merges", strs(vec!["Ġ t".to_string()])),
        ("tokenizer.ggml.bos_token_id", u(0)),
        ("tokenizer.ggml.eos_token_id", u(0)),
        ("tokenizer.chat_template", Value::String("{% for m in messages %}{{ m.content }}{% endfor %}".into())),
    ];
    let mut rng = Rng(21);
    let mut ts = Vec::new();
    let mut add = |name: String, ne: &[u64], ty: GgmlType| {
        let numel = ne.iter().product::<u64>() as usize;
        ts.push(GgufTensor { name, ne: ne.to_vec(), ty, data: random_data(&mut rng, ty, numel) });
    };
    add("token_embd.weight".into(), &[64, 258], GgmlType::Q8_0);
    add("output_norm.weight".into(), &[64], GgmlType::F32);
    for l in 0..2 {
        add(format!("blk.{l}.attn_norm.weight"), &[64], GgmlType::F32);
        add(format!("blk.{l}.attn_q.weight"), &[64, 64], GgmlType::Q4_0);
        add(format!("blk.{l}.attn_k.weight"), &[64, 32], GgmlType::Q4_1);
        add(format!("blk.{l}.attn_v.weight"), &[64, 32], GgmlType::F16);
        add(format!("blk.{l}.attn_output.weight"), &[64, 64], GgmlType::Q8_0);
        add(format!("blk.{l}.ffn_norm.weight"), &[64], GgmlType::F32);
        add(format!("blk.{l}.ffn_gate.weight"), &[64, 96], GgmlType::Q4_0);
        add(format!("blk.{l}.ffn_up.weight"), &[64, 96], GgmlType::Q4_1);
        add(format!("blk.{l}.ffn_down.weight"), &[96, 64], GgmlType::Q8_0);
    }
    write_gguf(3, &meta, &ts)
}

/// A safetensors file of every dtype the loader reads, a 2-D weight that
/// quantizes on load (32 columns) and an empty tensor.
fn small_safetensors() -> Vec<u8> {
    use webfm::weights::safetensors::Dtype;
    use webfm::weights::safetensors_write::{bf16_bytes, f16_bytes, f32_bytes, serialize, u32_bytes, Entry};
    let vals: Vec<f32> = (0..64).map(|i| i as f32 / 8.0 - 3.0).collect();
    let (f, h, b, u) = (f32_bytes(&vals), f16_bytes(&vals[..8]), bf16_bytes(&vals[..4]), u32_bytes(&[1, 2, 3, 4, 5, 6]));
    let entries = [
        Entry { name: "model.layers.0.mlp.up_proj.weight", dtype: Dtype::F32, shape: &[2, 32], bytes: &f },
        Entry { name: "model.norm.weight", dtype: Dtype::F16, shape: &[8], bytes: &h },
        Entry { name: "model.bias", dtype: Dtype::BF16, shape: &[4], bytes: &b },
        Entry { name: "model.q.weight", dtype: Dtype::U32, shape: &[2, 3], bytes: &u },
        Entry { name: "model.empty", dtype: Dtype::F32, shape: &[0, 3], bytes: &[] },
    ];
    serialize("small.safetensors", &entries, &std::collections::BTreeMap::from([("format".to_string(), "pt".to_string())])).unwrap()
}

/// An index that puts the tiny Llama's tensors in two shards, alternately.
fn shard_index_json() -> Vec<u8> {
    let h = Header::parse("model.safetensors", TINY[3].weights).unwrap();
    let map: serde_json::Map<String, serde_json::Value> =
        h.tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), format!("model-0000{}-of-00002.safetensors", 1 + i % 2).into())).collect();
    serde_json::to_vec_pretty(&serde_json::json!({"metadata": {"total_size": h.data_len()}, "weight_map": map})).unwrap()
}

/// The seeds of the targets this file adds (`tests/weights_mutations.rs` writes
/// those of `safetensors_header` and `gguf`), by target.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |target, name: String, bytes| out.push((target, name, bytes));
    // Small files keep the fuzzer fast: one of every dtype, a weight that
    // quantizes on load and an empty tensor, in each chunking; one real header.
    let small = small_safetensors();
    for mode in [6u8, 0, 2, 3 | 8] {
        add("safetensors_stream", format!("small-{mode}"), frame(&[mode], &small));
    }
    add("safetensors_stream", "tiny-bert-cls".into(), frame(&[6], TINY[0].weights));
    for t in &TINY {
        add("tokenizer", t.name.to_string(), t.tokenizer.to_vec());
    }
    for (i, t) in TINY.iter().enumerate() {
        add("model_config", format!("{}-config", t.name), frame(&[i as u8], t.config));
        if i >= 2 {
            add("model_config", format!("{}-tokenizer_config", t.name), frame(&[(i + 5) as u8], t.tokenizer_config));
        }
    }
    for (which, json) in [
        (2u8, &br#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#[..]),
        (3, br#"[{"idx": 0, "type": "sentence_transformers.models.Normalize"}]"#),
        (4, br#"{"max_seq_length": 16}"#),
    ] {
        add("model_config", format!("tiny-bert-cls-{}", exercise::MODEL_FILES[which as usize].replace('/', "_")), frame(&[which * 5], json));
    }
    for a in ["tiny-bert-head-lora", "tiny-bert-head-lora-init", "tiny-llama3-lora", "tiny-llama3-lora-init"] {
        let dir = root().join("tests/golden/peft").join(a);
        let (c, w) = (std::fs::read(dir.join("adapter_config.json")).unwrap(), std::fs::read(dir.join("adapter_model.safetensors")).unwrap());
        add("adapter", a.to_string(), join2(&c, &w));
    }
    add("shard_index", "two-shards".into(), shard_index_json());
    let g = llama_gguf();
    add("gguf_model", "tiny-llama-q".into(), frame(&[0], &g));
    add("gguf_model", "tiny-llama-8-64".into(), frame(&[2], &g));
    out
}

/// Whether the reader the target starts with takes the seed (a seed it rejects
/// would only fuzz the first check).
fn accepted(target: &str, bytes: &[u8]) -> webfm::Result<()> {
    use webfm::models::files::WeightsLoader;
    use webfm::weights::gguf::Gguf;
    match target {
        "safetensors_stream" => {
            let mut params = webfm::models::params::Params::new(&webfm::Device::Cpu);
            let mut loader = WeightsLoader::new("seed", &mut params);
            loader.push(&bytes[1..])?;
            loader.finish().map(|_| ())
        }
        "tokenizer" => webfm::tokenizer::Tokenizer::from_bytes("seed", bytes).map(|_| ()),
        "model_config" => {
            let (i, which) = (bytes[0] as usize % 5, bytes[0] as usize / 5 % 5);
            let mut files = exercise::tiny_files(&TINY[i]);
            match which {
                0 => files.config = bytes[1..].to_vec(),
                _ => _ = files.extra.insert(exercise::MODEL_FILES[which].to_string(), bytes[1..].to_vec()),
            }
            let params = exercise::tiny_params(i);
            match i {
                0..=1 => webfm::models::bert::Bert::new(&files, params).map(|_| ()),
                _ => webfm::models::decoder::Decoder::new(&files, params).map(|_| ()),
            }
        }
        "adapter" => {
            let (c, w) = exercise::split2(bytes);
            webfm::train::adapter::AdapterFile::parse(c, w).map(|_| ())
        }
        "shard_index" => webfm::weights::shards::ShardIndex::parse("seed", bytes).map(|_| ()),
        "gguf_model" => {
            let g = Gguf::parse("seed", &bytes[1..])?;
            webfm::weights::convert::from_gguf(&g, &bytes[1..], Default::default()).map(|_| ())
        }
        other => panic!("no seeds for {other}"),
    }
}

#[test]
fn seeds_are_accepted_and_do_not_panic() {
    let write = std::env::var_os("WEBFM_FUZZ_SEEDS").is_some();
    let seeds = seeds();
    for (target, name, bytes) in &seeds {
        if let Err(e) = accepted(target, bytes) {
            panic!("seed {target}/{name} is rejected by its reader: {e}");
        }
        if let Some(msg) = panics(target, bytes) {
            panic!("seed {target}/{name} panics: {msg}");
        }
        if write {
            let dir = root().join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let covered: std::collections::BTreeSet<&str> = seeds.iter().map(|s| s.0).collect();
    assert_eq!(covered.len() + 2, TARGETS.len(), "every target has seeds here or in weights_mutations.rs");
}

/// The checks `Tokenizer::from_bytes` makes before the `tokenizers` crate
/// (for what it panics on) keep what it reads well: post-processor templates
/// inside a `Sequence`.
#[test]
fn checks_before_tokenizers_keep_valid_files() {
    let mut json: serde_json::Value = serde_json::from_slice(TINY[0].tokenizer).unwrap();
    let template = json["post_processor"].take();
    let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
    json["post_processor"] = serde_json::json!({"type": "Sequence", "processors": [byte_level, template]});
    let bytes = serde_json::to_vec(&json).unwrap();
    tokenizers::Tokenizer::from_bytes(&bytes).expect("tokenizers reads it");
    let t = webfm::tokenizer::Tokenizer::from_bytes("tokenizer.json", &bytes).expect("webfm reads it");
    assert_eq!(t.encode_pair("a", "b", None).unwrap().type_ids.last(), Some(&1));
}
