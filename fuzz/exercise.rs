//! What each fuzz target does with its input, shared by the targets in
//! `fuzz/fuzz_targets/` and by `tests/fuzz_regressions.rs`, which replays the
//! kept inputs: every reader of a file from outside must return a value or an
//! error for any bytes, never panic.
//!
//! Targets whose reader takes more than one file, or a choice, read a
//! framing byte (or two) first: see [`frame`] and each function.
#![allow(dead_code)]

use std::cell::OnceCell;
use std::collections::BTreeMap;

use webfm::models::bert::{Bert, EncodeOptions};
use webfm::models::decoder::Decoder;
use webfm::models::files::{ModelFiles, WeightsLoader};
use webfm::models::params::Params;
use webfm::nn::Quantization;
use webfm::tasks::chat::ChatMessage;
use webfm::tokenizer::Tokenizer;
use webfm::train::adapter::AdapterFile;
use webfm::train::encoder::ClassifierAdapter;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_convert::convert;
use webfm::weights::safetensors::{header_size, Header, SafeTensors};
use webfm::weights::shards::{ShardIndex, INDEX_FILE};
use webfm::Device;

/// Every target, by the name of its file in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 8] = ["safetensors_header", "safetensors_stream", "shard_index", "gguf", "gguf_model", "model_config", "adapter", "tokenizer"];

/// Runs target `name` on `bytes`; `false` for an unknown name.
pub fn run(name: &str, bytes: &[u8]) -> bool {
    match name {
        "safetensors_header" => safetensors_header(bytes),
        "safetensors_stream" => safetensors_stream(bytes),
        "shard_index" => shard_index(bytes),
        "gguf" => gguf(bytes),
        "gguf_model" => gguf_model(bytes),
        "model_config" => model_config(bytes),
        "adapter" => adapter(bytes),
        "tokenizer" => tokenizer(bytes),
        _ => return false,
    }
    true
}

/// The target a kept input belongs to: the longest target name its file name
/// starts with, then `-` (`gguf_model-1a2b` → `gguf_model`, `gguf-crash-9622e871` → `gguf`).
pub fn target_of(file_name: &str) -> Option<&'static str> {
    TARGETS.iter().copied().filter(|t| file_name.strip_prefix(t).is_some_and(|rest| rest.starts_with('-'))).max_by_key(|t| t.len())
}

/// An input of a framed target: the framing bytes, then the file.
pub fn frame(head: &[u8], file: &[u8]) -> Vec<u8> {
    [head, file].concat()
}

/// Splits `[n: u16 LE][n bytes][rest]` into its two files (a short input is all first file).
pub fn split2(bytes: &[u8]) -> (&[u8], &[u8]) {
    let Some((n, rest)) = bytes.split_first_chunk::<2>() else { return (bytes, &[]) };
    rest.split_at((u16::from_le_bytes(*n) as usize).min(rest.len()))
}

/// `[n: u16 LE][a][b]`, the inverse of [`split2`].
pub fn join2(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = u16::try_from(a.len()).expect("a first file under 64 KiB");
    [&n.to_le_bytes()[..], a, b].concat()
}

/// `safetensors_header`: `header_size`, `Header::parse`, `SafeTensors::parse` and every tensor view.
pub fn safetensors_header(bytes: &[u8]) {
    if header_size("fuzz", bytes).is_ok() {
        let _ = Header::parse("fuzz", bytes);
    }
    if let Ok(st) = SafeTensors::parse("fuzz", bytes) {
        for t in st.tensors() {
            let _ = t.to_f32();
            let _ = t.to_u32();
        }
    }
}

/// `safetensors_stream`: the streaming reader the browser and the CLI load
/// weights with (`WeightsLoader`, which feeds `Params::add`), the file cut into
/// chunks. Byte 0: bits 0-2 the chunk size (1, 2, 7, 64, 4096, 1 MiB, the
/// whole file), bit 3 quantizing on load to 4 bits, group 32. Whatever the
/// stream accepts, `SafeTensors::parse` accepts too.
pub fn safetensors_stream(bytes: &[u8]) {
    let Some((&mode, file)) = bytes.split_first() else { return };
    let chunk = [1, 2, 7, 64, 4096, 1 << 20, usize::MAX, usize::MAX][(mode & 7) as usize].min(file.len().max(1));
    let mut params = Params::new(&Device::Cpu);
    if mode & 8 != 0 {
        params.quantize_on_load(Quantization { bits: 4, group: 32 });
    }
    let mut loader = WeightsLoader::new("fuzz.safetensors", &mut params);
    for c in file.chunks(chunk) {
        if loader.push(c).is_err() {
            return;
        }
    }
    if loader.finish().is_ok() {
        assert!(SafeTensors::parse("fuzz", file).is_ok(), "the stream took a file that SafeTensors::parse rejects");
    }
}

thread_local! {
    static LLAMA_HEADER: OnceCell<Header> = const { OnceCell::new() };
}

/// `shard_index`: `ShardIndex::parse` of `model.safetensors.index.json`, each
/// shard checked against a real header; every shard name it accepts stays
/// inside the model's folder.
pub fn shard_index(bytes: &[u8]) {
    let Ok(index) = ShardIndex::parse(INDEX_FILE, bytes) else { return };
    LLAMA_HEADER.with(|h| {
        let header = h.get_or_init(|| Header::parse("model.safetensors", TINY[3].weights).expect("the tiny model's header"));
        for shard in index.shards() {
            let inside = std::path::Path::new(shard).components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
            assert!(inside, "shard {shard:?} is outside the model's folder");
            let _ = index.tensors_in(shard).count();
            let _ = index.check_shard(shard, header);
        }
    });
}

/// `gguf`: `Gguf::parse` and `gguf_convert::convert` of every tensor it accepts.
pub fn gguf(bytes: &[u8]) {
    if let Ok(g) = Gguf::parse("fuzz", bytes) {
        for t in &g.tensors {
            if let Ok(c) = convert(&g, bytes, &t.name) {
                let _ = c.to_f32();
            }
        }
    }
}

/// `gguf_model`: what `webfm convert` and `webfm inspect` read from a GGUF
/// beyond its tensors: the header from a prefix (`parse_header`), the config
/// and tokenizer rebuilt from the metadata (loaded into `Tokenizer`), the
/// inspect report and the whole conversion. Byte 0 picks the conversion's
/// bits and group (as the file has, 4/32, 8/64, 8/128).
pub fn gguf_model(bytes: &[u8]) {
    use webfm::weights::{convert::from_gguf, convert::Options, gguf_config, gguf_tokenizer, inspect};
    let Some((&mode, file)) = bytes.split_first() else { return };
    let _ = Gguf::parse_header("fuzz.gguf", &file[..file.len() / 2], file.len() as u64);
    let Ok(g) = Gguf::parse("fuzz.gguf", file) else { return };
    let _ = gguf_config::hf_config(&g);
    if let Ok((tokenizer, _)) = gguf_tokenizer::hf_tokenizer(&g) {
        if let Ok(t) = Tokenizer::from_bytes("tokenizer.json", tokenizer.to_string().as_bytes()) {
            let _ = t.encode("Hello, wörld 12", None).map(|e| t.decode(&e.ids, false));
        }
    }
    let _ = inspect::gguf("fuzz.gguf", &g).to_text();
    let opt = [
        Options::default(),
        Options { bits: Some(4), group: Some(32) },
        Options { bits: Some(8), group: Some(64) },
        Options { bits: Some(8), group: Some(128) },
    ][(mode & 3) as usize];
    if let Ok(folder) = from_gguf(&g, file, opt) {
        let _ = folder.config_json();
    }
}

/// A tiny model folder from `tests/models/`.
pub struct Tiny {
    pub name: &'static str,
    pub config: &'static [u8],
    pub tokenizer: &'static [u8],
    pub tokenizer_config: &'static [u8],
    pub weights: &'static [u8],
}

macro_rules! tiny {
    ($name:literal) => {
        Tiny {
            name: $name,
            config: include_bytes!(concat!("../tests/models/", $name, "/config.json")),
            tokenizer: include_bytes!(concat!("../tests/models/", $name, "/tokenizer.json")),
            tokenizer_config: include_bytes!(concat!("../tests/models/", $name, "/tokenizer_config.json")),
            weights: include_bytes!(concat!("../tests/models/", $name, "/model.safetensors")),
        }
    };
}

/// The folders `model_config` and `adapter` build on: two encoders, three decoders.
pub const TINY: [Tiny; 5] = [tiny!("tiny-bert-cls"), tiny!("tiny-distilbert-cls"), tiny!("tiny-gpt2"), tiny!("tiny-llama3"), tiny!("tiny-qwen2")];

/// The small files `model_config` can replace, after config.json.
pub const MODEL_FILES: [&str; 5] = ["config.json", "tokenizer_config.json", "1_Pooling/config.json", "modules.json", "sentence_bert_config.json"];

pub fn tiny_files(t: &Tiny) -> ModelFiles {
    let extra = BTreeMap::from([("tokenizer_config.json".to_string(), t.tokenizer_config.to_vec())]);
    ModelFiles { config: t.config.to_vec(), tokenizer: t.tokenizer.to_vec(), extra }
}

/// The weights of every tiny folder, loaded once per thread (leaked: they live as long as the fuzzer).
pub fn tiny_params(i: usize) -> &'static Params {
    thread_local! {
        static PARAMS: [OnceCell<&'static Params>; 5] = const { [const { OnceCell::new() }; 5] };
    }
    PARAMS.with(|p| {
        *p[i].get_or_init(|| {
            let mut params = Params::new(&Device::Cpu);
            let mut loader = WeightsLoader::new(TINY[i].name, &mut params);
            loader.push(TINY[i].weights).expect("a tiny model's weights");
            loader.finish().expect("a tiny model's weights");
            Box::leak(Box::new(params))
        })
    })
}

/// Builds the tiny folder `i` with `files` and runs it on a few tokens.
fn build_and_run(i: usize, files: &ModelFiles) {
    let params = tiny_params(i);
    if i < 2 {
        let Ok(m) = Bert::new(files, params) else { return };
        let opt = EncodeOptions { truncate: true, max_tokens: Some(8) };
        if let (Ok(a), Ok(b)) = (m.encode("hello world", opt), m.encode_pair("a", "b c", opt)) {
            let _ = m.forward(&[a, b]);
        }
    } else {
        let Ok(m) = Decoder::new(files, params) else { return };
        let turns = [ChatMessage { role: "user".into(), content: "hi".into() }];
        let _ = m.apply_chat_template(&turns);
        if let (Ok(ids), Ok(mut cache)) = (m.encode("hello"), m.new_cache(8)) {
            let _ = m.forward(&ids[..ids.len().min(8)], &mut cache, true);
        }
    }
}

/// `model_config`: the JSON files of a model folder, read as `Bert::new` and
/// `Decoder::new` read them, on the weights and tokenizer of a tiny model,
/// then a forward over a few tokens. Byte 0: the folder (`TINY`, `% 5`) and
/// the file the rest replaces (`MODEL_FILES`, `/ 5 % 5`).
pub fn model_config(bytes: &[u8]) {
    let Some((&mode, file)) = bytes.split_first() else { return };
    let (i, which) = (mode as usize % 5, mode as usize / 5 % 5);
    let mut files = tiny_files(&TINY[i]);
    match which {
        0 => files.config = file.to_vec(),
        _ => _ = files.extra.insert(MODEL_FILES[which].to_string(), file.to_vec()),
    }
    build_and_run(i, &files);
}

/// Tiny models built once per thread for `adapter` (leaked like their weights).
fn tiny_bert() -> Option<&'static Bert> {
    thread_local! { static M: OnceCell<Option<&'static Bert>> = const { OnceCell::new() }; }
    M.with(|m| *m.get_or_init(|| Bert::new(&tiny_files(&TINY[0]), tiny_params(0)).ok().map(|b| &*Box::leak(Box::new(b)))))
}

fn tiny_llama() -> Option<&'static Decoder> {
    thread_local! { static M: OnceCell<Option<&'static Decoder>> = const { OnceCell::new() }; }
    M.with(|m| *m.get_or_init(|| Decoder::new(&tiny_files(&TINY[3]), tiny_params(3)).ok().map(|d| &*Box::leak(Box::new(d)))))
}

/// `adapter`: a PEFT adapter, `adapter_config.json` and
/// `adapter_model.safetensors` framed by [`join2`], read by
/// `AdapterFile::parse` (and `parse_safetensors` from the weights alone),
/// then taken by a tiny BERT as a classifier adapter and by a tiny Llama as a
/// LoRA set (added to its layers, one token run, and removed).
pub fn adapter(bytes: &[u8]) {
    let (config, weights) = split2(bytes);
    let _ = AdapterFile::parse_safetensors(weights);
    let Ok(file) = AdapterFile::parse(config, weights) else { return };
    let _ = file.lora_config();
    if let Some(bert) = tiny_bert() {
        let _ = ClassifierAdapter::from_file(bert, &file);
    }
    if let Some(llama) = tiny_llama() {
        if let Ok(set) = llama.read_adapter(&file) {
            if llama.set_adapter(Some(&set), false).is_ok() {
                if let Ok(mut cache) = llama.new_cache(2) {
                    let _ = llama.forward(&[1], &mut cache, false);
                }
            }
            llama.set_adapter(None, false).expect("removing an adapter");
        }
    }
}

/// `tokenizer`: `tokenizer.json` as webfm loads it (`Tokenizer::from_bytes`,
/// padding and truncation switched off, `check_fits` against a vocabulary),
/// then encoding (truncated, plain, pairs) and decoding.
pub fn tokenizer(bytes: &[u8]) {
    let Ok(t) = Tokenizer::from_bytes("tokenizer.json", bytes) else { return };
    let _ = (t.vocab_size(), t.check_fits(384));
    for (text, max) in [("Hello, wörld! 12 <s>", Some(6)), ("", Some(1)), ("a b c", None)] {
        if let Ok(e) = t.encode(text, max) {
            let _ = t.decode(&e.ids, true);
        }
    }
    let _ = t.encode_plain("plain text");
    let _ = t.encode_pair("first", "second", Some(16));
    let _ = t.decode(&[0, 1, 2, 383, 1 << 20], false);
}
