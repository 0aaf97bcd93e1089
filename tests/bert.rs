//! BERT-family encoders against PyTorch + transformers golden files
//! (tests/golden/make_bert_golden.py): tiny random BERT and DistilBERT
//! classifiers (tests/models/), and all-MiniLM-L6-v2 sentence embeddings at
//! f32, 8 and 4 bits, on the CPU and on wgpu.
//!
//! Tolerances: f32 logits within 1e-4 absolute (PyTorch and we sum in
//! different orders); MiniLM f32 embeddings cosine >= 0.99999 and max abs
//! difference <= 1e-4 per embedding (the bar); 8-bit (group 64)
//! cosine >= 0.995 (the bar; measured worst 0.9996). 4-bit: the issue
//! asks for 0.98, which round-to-nearest min/max quantization does not reach
//! on MiniLM at any group size (measured worst 0.930 at group 32, 0.894 at
//! 64, 0.870 at 128; an MSE-clipping quantizer only got group 32 to 0.946),
//! so the test holds group 32 to what it measures, 0.92, and says so.
//! `webfm convert --calibrate data/calibration.jsonl` (GPTQ, src/quant/gptq.rs)
//! measures 0.9649 at group 32, held to 0.96. Still short of 0.98: in PyTorch
//! (same texts, same format) GPTQ's best was 0.967, with bias correction
//! 0.974 and scales refitted as well 0.975. `--mixed --calibrate` (value
//! projections and the last two layers' feed-forward weights at 8 bits: 5.2
//! bits a linear weight on average, like llama.cpp's Q4_K_M) measures
//! 0.9798 (PyTorch: 0.9818), held to 0.975: the 0.98 is not met by
//! either recipe. The rule for `--mixed` came from per-kind sensitivity, not
//! from tuning on these texts, and stays that way.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use webfm::models::bert::{Bert, EncodeOptions, Pooling};
use webfm::models::files::load_dir;
use webfm::tasks::embed::cosine;
use webfm::tokenizer::Encoded;
use webfm::{Device, DeviceRequest};

fn gpu() -> Device {
    pollster::block_on(Device::new(DeviceRequest::WebGpu)).expect("a wgpu adapter (lavapipe)")
}

fn devices() -> Vec<Device> {
    vec![Device::Cpu, gpu()]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/golden").join(name)).unwrap()).unwrap()
}

fn load(dir: &Path, device: &Device) -> Bert {
    let (files, params) = load_dir(dir, device).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Bert::new(&files, &params).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn tiny_classifiers_match_pytorch_logits() {
    let g = golden("tiny_cls.json");
    for device in devices() {
        for (name, m) in g["models"].as_object().unwrap() {
            let model = load(&root().join("tests/models").join(name), &device);
            for case in m["cases"].as_array().unwrap() {
                let text = case["text"].as_str().unwrap();
                let e = match case.get("text_pair") {
                    Some(pair) => model.encode_pair(text, pair.as_str().unwrap(), EncodeOptions::default()).unwrap(),
                    None => model.encode(text, EncodeOptions::default()).unwrap(),
                };
                assert_eq!(e.type_ids, ids(&case["token_type_ids"]), "{name} {text:?}: type ids");
                assert_eq!(e.ids, ids(&case["ids"]), "{name} {text:?}: ids");
                assert_eq!(e.truncated, case["truncated"].as_bool().unwrap(), "{name} {text:?}: truncated");
                let logits = pollster::block_on(model.logits(&[e])).unwrap().remove(0);
                let want = floats(&case["logits"]);
                let d = max_abs(&logits, &want);
                assert!(d <= 1e-4, "{name} on {}: {text:?}: logits {logits:?} vs {want:?} (max diff {d})", device.kind());
                if case.get("text_pair").is_none() {
                    let top = pollster::block_on(model.classify(&[text], Some(1), EncodeOptions::default())).unwrap();
                    assert_eq!(top.len(), 1);
                    assert_eq!(top[0][0].label, case["label"].as_str().unwrap(), "{name} {text:?}: label");
                    assert!((top[0][0].score - floats(&case["scores"]).iter().copied().fold(0.0, f32::max)).abs() < 1e-4);
                }
            }
            // A padded batch gives each text its own logits.
            let texts: Vec<&str> = m["batch"]["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            let batch: Vec<Encoded> = texts.iter().map(|t| model.encode(t, EncodeOptions::default()).unwrap()).collect();
            let together = pollster::block_on(model.logits(&batch)).unwrap();
            for (e, l) in batch.iter().zip(&together) {
                let alone = pollster::block_on(model.logits(std::slice::from_ref(e))).unwrap().remove(0);
                assert!(max_abs(l, &alone) <= 1e-5, "{name} on {}: batched {l:?} vs alone {alone:?}", device.kind());
            }
        }
    }
}

#[test]
fn weights_split_over_small_buffers_give_the_same_logits() {
    let dir = root().join("tests/models/tiny-bert-cls");
    let whole = load(&dir, &gpu());
    let device = gpu();
    let Device::Gpu(g) = &device else { unreachable!() };
    // 4 KiB buffers: the [360, 32] word table splits into 12 blocks, every
    // [64, 32] and [32, 64] matrix into 2; a short text's activations still fit.
    g.set_max_binding_bytes(4096);
    let split = load(&dir, &device);
    let e = whole.encode("the music was great", EncodeOptions::default()).unwrap();
    assert!(e.ids.len() <= 16);
    let a = pollster::block_on(whole.logits(std::slice::from_ref(&e))).unwrap();
    let b = pollster::block_on(split.logits(&[e])).unwrap();
    assert!(max_abs(&a[0], &b[0]) <= 1e-5, "{a:?} vs {b:?}");
}

/// A copy of a tiny model folder with `config.json` edited.
fn with_config(name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let src = root().join("tests/models").join(name);
    let dir = std::env::temp_dir().join(format!("webfm-bert-{name}-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn load_err(dir: &Path) -> String {
    let r = load_dir(dir, &Device::Cpu).and_then(|(f, p)| Bert::new(&f, &p));
    match r {
        Ok(_) => panic!("{}: loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_tensor_that_disagrees_with_config_json_names_itself() {
    let dir = with_config("tiny-bert-cls", |c| c["intermediate_size"] = 48.into());
    let e = load_err(&dir);
    assert!(e.contains("encoder.layer.0.intermediate.dense.weight") && e.contains("[48, 32]") && e.contains("[64, 32]"), "{e}");
    let dir = with_config("tiny-distilbert-cls", |c| c["dim"] = 64.into());
    let e = load_err(&dir);
    assert!(e.contains("distilbert.embeddings.word_embeddings.weight") && e.contains("vocab_size × hidden_size"), "{e}");
    // A tokenizer with ids past the embedding table.
    let dir = with_config("tiny-bert-cls", |c| c["vocab_size"] = 100.into());
    let e = load_err(&dir);
    assert!(e.contains("tokenizer.json") && e.contains("vocab_size 100"), "{e}");
    let dir = with_config("tiny-bert-cls", |c| c["model_type"] = "llama".into());
    assert!(load_err(&dir).contains("model_type"));
    // A folder missing its tokenizer.
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    assert!(load_err(&dir).contains("tokenizer.json"));
}

#[test]
fn long_text_truncates_by_default_and_errors_without_truncation() {
    let model = load(&root().join("tests/models/tiny-bert-cls"), &Device::Cpu);
    let long = "the story ".repeat(100);
    let e = model.encode(&long, EncodeOptions::default()).unwrap();
    assert!(e.truncated);
    assert_eq!(e.ids.len(), 64);
    assert_eq!(*e.ids.last().unwrap(), model.tokenizer().token_to_id("[SEP]").unwrap());
    let err = model.encode(&long, EncodeOptions { truncate: false, max_tokens: None }).unwrap_err().to_string();
    assert!(err.contains("more than the 64"), "{err}");
}

/// all-MiniLM-L6-v2's golden cases, embedded by `model` in one batch.
fn minilm_check(model: &Bert, cos_min: f32, abs_max: Option<f32>) -> f32 {
    let g = golden("minilm_embeddings.json");
    let cases = g["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let out = pollster::block_on(model.embed(&texts, None, None, EncodeOptions::default())).unwrap();
    let mut worst = 1.0f32;
    for (c, e) in cases.iter().zip(&out) {
        let text = c["text"].as_str().unwrap();
        assert_eq!(e.ids, ids(&c["ids"]), "{text:?}: ids");
        assert_eq!(e.truncated, c["truncated"].as_bool().unwrap(), "{text:?}");
        let want = floats(&c["embedding"]);
        let cos = cosine(&e.embedding, &want);
        worst = worst.min(cos);
        assert!(cos >= cos_min, "{text:?} on {}: cosine {cos}", model.device().kind());
        if let Some(m) = abs_max {
            let d = max_abs(&e.embedding, &want);
            assert!(d <= m, "{text:?} on {}: max abs diff {d}", model.device().kind());
        }
    }
    worst
}

#[test]
fn minilm_f32_embeddings_match_sentence_transformers() {
    let Some(dir) = common::minilm_folder() else { return };
    for device in devices() {
        let model = load(&dir, &device);
        assert_eq!(model.pooling, Pooling::Mean);
        assert!(model.normalize);
        assert_eq!(model.max_tokens, 256);
        let worst = minilm_check(&model, 0.99999, Some(1e-4));
        println!("MiniLM f32 on {}: worst cosine {worst}", device.kind());
        // CLS pooling and the raw (unnormalised) mean, on one text.
        let g = golden("minilm_embeddings.json");
        let c = &g["cases"][0];
        let text = c["text"].as_str().unwrap();
        let cls = pollster::block_on(model.embed(&[text], Some(Pooling::Cls), Some(false), EncodeOptions::default())).unwrap();
        assert!(max_abs(&cls[0].embedding, &floats(&c["cls"])) <= 1e-4);
        let raw = pollster::block_on(model.embed(&[text], None, Some(false), EncodeOptions::default())).unwrap();
        assert!(max_abs(&raw[0].embedding, &floats(&c["embedding_raw"])) <= 1e-4);
    }
}

/// Removes a scratch folder when dropped (each run's conversions are ~20 MB).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// MiniLM converted by the CLI; `calibrated`: with `--calibrate data/calibration.jsonl` (GPTQ); `mixed`: `--mixed`.
fn converted(bits: u32, group: usize, calibrated: bool, mixed: bool) -> Option<PathBuf> {
    let src = common::minilm_folder()?;
    let tag = format!("{}{}", if calibrated { "-gptq" } else { "" }, if mixed { "-mixed" } else { "" });
    let out = std::env::temp_dir().join(format!("webfm-bert-minilm-q{bits}g{group}{tag}-{}", std::process::id()));
    if !out.join("model.safetensors").is_file() {
        let mut args = vec![
            "convert".to_string(),
            src.display().to_string(),
            out.display().to_string(),
            "--bits".into(),
            bits.to_string(),
            "--group".into(),
            group.to_string(),
        ];
        if calibrated {
            args.extend(["--calibrate".to_string(), root().join("data/calibration.jsonl").display().to_string()]);
        }
        if mixed {
            args.push("--mixed".into());
        }
        let st = std::process::Command::new(env!("CARGO_BIN_EXE_webfm")).args(&args).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
    Some(out)
}

#[test]
fn minilm_quantized_embeddings_stay_close() {
    let runs = [(8, 64, false, false, 0.995), (4, 32, false, false, 0.92), (4, 32, true, false, 0.96), (4, 32, true, true, 0.975)];
    for (bits, group, calibrated, mixed, bar) in runs {
        let Some(dir) = converted(bits, group, calibrated, mixed) else { return };
        let _cleanup = RemoveOnDrop(dir.clone());
        for device in devices() {
            let model = load(&dir, &device);
            let worst = minilm_check(&model, bar, None);
            let how = format!("{}{}", if calibrated { " GPTQ" } else { "" }, if mixed { " mixed" } else { "" });
            println!("MiniLM {bits}-bit group {group}{how} on {}: worst cosine {worst} (bar {bar})", device.kind());
        }
    }
}
