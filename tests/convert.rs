//! `webfm convert` and `webfm inspect`, run as the binary: a synthetic Llama
//! GGUF and SmolLM2-135M-Instruct (when fetched) converted and read back
//! against candle-core's own dequantization, Q/K rows un-permuted; a tiny
//! Hugging Face folder quantized at 4 and 8 bits; bad input.

mod common;

use candle_core::quantized::gguf_file;
use common::{random_data, write_gguf, GgufTensor, Rng};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use webfm::quant::dequantize;
use webfm::weights::convert::module_quantization;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_types::{GgmlType, Value, ValueType};
use webfm::weights::quantized::read_affine;
use webfm::weights::safetensors::{Dtype, SafeTensors};
use webfm::weights::safetensors_write::{bf16_bytes, f16_bytes, f32_bytes, serialize, Entry};

fn webfm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webfm")).args(args).output().expect("run webfm")
}

fn ok(args: &[&str]) -> Output {
    let out = webfm(args);
    assert!(out.status.success(), "webfm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("webfm-convert-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// llama.cpp's converter, HF → GGUF, on a `[rows, cols]` matrix or `[rows]`
/// vector: `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2)`.
fn llama_cpp_permute(hf: &[f32], rows: usize, n_head: usize) -> Vec<f32> {
    let (cols, half) = (hf.len() / rows, rows / n_head / 2);
    let mut out = vec![0f32; hf.len()];
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                let (src, dst) = (h * 2 * half + j * half + i, h * 2 * half + i * 2 + j);
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&hf[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// The Hugging Face name the converter must give a GGUF tensor of a Llama model.
fn expected_name(gguf: &str) -> String {
    let table = [
        ("token_embd", "model.embed_tokens"),
        ("output_norm", "model.norm"),
        ("output", "lm_head"),
        ("attn_norm", "input_layernorm"),
        ("ffn_norm", "post_attention_layernorm"),
        ("attn_q", "self_attn.q_proj"),
        ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"),
        ("ffn_gate", "mlp.gate_proj"),
        ("ffn_up", "mlp.up_proj"),
        ("ffn_down", "mlp.down_proj"),
    ];
    let parts: Vec<&str> = gguf.split('.').collect();
    let look = |m: &str| table.iter().find(|(g, _)| *g == m).map(|(_, h)| *h).unwrap_or_else(|| panic!("unmapped {gguf}"));
    match parts[..] {
        ["blk", n, m, suffix] => format!("model.layers.{n}.{}.{suffix}", look(m)),
        [m, suffix] => format!("{}.{suffix}", look(m)),
        _ => panic!("unexpected name {gguf}"),
    }
}

/// Reads the converted folder back and compares every tensor with candle's
/// dequantization of the GGUF: bit for bit, except +0.0 where candle has -0.0
/// (docs/FORMAT.md). Checks the config against the metadata. Returns the
/// number of values compared.
fn check_against_gguf(gguf: &Path, out: &Path) -> usize {
    let bytes = std::fs::read(gguf).unwrap();
    let g = Gguf::parse("model.gguf", &bytes).unwrap();
    let mut cur = std::io::Cursor::new(&bytes);
    let content = gguf_file::Content::read(&mut cur).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let meta = |k: &str| g.get(&format!("llama.{k}")).unwrap_or_else(|| panic!("llama.{k}")).clone();
    let (n_head, n_head_kv) = (meta("attention.head_count").as_u64().unwrap() as usize, meta("attention.head_count_kv").as_u64().unwrap() as usize);
    for (field, key) in [
        ("hidden_size", "embedding_length"),
        ("intermediate_size", "feed_forward_length"),
        ("num_hidden_layers", "block_count"),
        ("max_position_embeddings", "context_length"),
    ] {
        assert_eq!(config[field].as_u64(), meta(key).as_u64(), "config.json {field} vs llama.{key}");
    }
    assert_eq!((config["num_attention_heads"].as_u64(), config["num_key_value_heads"].as_u64()), (Some(n_head as u64), Some(n_head_kv as u64)));
    let Value::F32(eps) = meta("attention.layer_norm_rms_epsilon") else { panic!("eps type") };
    assert_eq!(config["rms_norm_eps"].as_f64().map(|x| x as f32), Some(eps));
    let theta = g.get("llama.rope.freq_base").map_or(10000.0, |v| v.as_f64().unwrap() as f32);
    assert_eq!(config["rope_theta"].as_f64().map(|x| x as f32), Some(theta));
    assert_eq!(config["tie_word_embeddings"].as_bool(), Some(g.tensor("output.weight").is_none()));
    assert_eq!(config["bos_token_id"].as_u64(), g.get("tokenizer.ggml.bos_token_id").and_then(Value::as_u64));
    assert_eq!(config["eos_token_id"].as_u64(), g.get("tokenizer.ggml.eos_token_id").and_then(Value::as_u64));
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");

    let st_bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = SafeTensors::parse("model.safetensors", &st_bytes).unwrap();
    let dev = candle_core::Device::Cpu;
    let (mut compared, mut signed_zeros, mut permuted) = (0, 0, 0);
    for t in &g.tensors {
        let hf = expected_name(&t.name);
        let prefix = hf.strip_suffix(".weight").unwrap_or(&hf);
        let mut ours = match st.header.get(&format!("{prefix}.scales")) {
            Some(_) => {
                let (bits, group) = module_quantization(&config, prefix).unwrap_or_else(|| panic!("{prefix}: no quantization in config.json"));
                let want = match t.ty {
                    GgmlType::Q8_0 => 8,
                    _ => 4,
                };
                assert_eq!((bits, group), (want, 32), "{}: the file's own quantization is kept", t.name);
                dequantize(&read_affine(&st, prefix, bits, group).unwrap())
            }
            None => {
                let v = st.tensor(&hf).unwrap_or_else(|e| panic!("{e}"));
                assert!(!matches!(t.ty, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0), "{}: quantized source written as float", t.name);
                assert_eq!(v.shape, t.shape().as_slice(), "{hf}");
                v.to_f32().unwrap()
            }
        };
        let rows = t.shape()[0];
        if t.name.contains(".attn_q.") || t.name.contains(".attn_k.") {
            let heads = if t.name.contains(".attn_q.") { n_head } else { n_head_kv };
            ours = llama_cpp_permute(&ours, rows, heads);
            permuted += 1;
        }
        let theirs = content.tensor(&mut cur, &t.name, &dev).unwrap().dequantize(&dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}", t.name);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            if a.to_bits() != b.to_bits() {
                assert!(*a == 0.0 && *b == 0.0 && a.is_sign_positive(), "{}[{i}] ({hf}): ours {a:e} vs candle {b:e}", t.name);
                signed_zeros += 1;
            }
        }
        compared += ours.len();
    }
    assert!(permuted >= 2, "Q and K of every layer checked");
    eprintln!(
        "{}: {} tensors, {compared} values equal candle's ({signed_zeros} -0.0 as +0.0), {permuted} Q/K tensors un-permuted",
        gguf.display(),
        g.tensors.len()
    );
    compared
}

fn strs(xs: &[String]) -> Value {
    Value::Array(ValueType::String, xs.iter().map(|s| Value::String(s.clone())).collect())
}

/// Llama metadata for a tiny model and a byte-level tokenizer.
fn llama_meta(arch: &str) -> Vec<(&'static str, Value)> {
    let alphabet = webfm::weights::gguf_tokenizer::byte_alphabet().map(|c| c.to_string());
    let tokens: Vec<String> = ["<|endoftext|>".to_string()].into_iter().chain(alphabet).chain(["Ġt".to_string()]).collect();
    vec![
        ("general.architecture", Value::String(arch.into())),
        ("llama.block_count", Value::U32(2)),
        ("llama.context_length", Value::U32(128)),
        ("llama.embedding_length", Value::U32(64)),
        ("llama.feed_forward_length", Value::U32(96)),
        ("llama.attention.head_count", Value::U32(4)),
        ("llama.attention.head_count_kv", Value::U32(2)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(100000.0)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.merges", strs(&["Ġ t".to_string()])),
        ("tokenizer.ggml.bos_token_id", Value::U32(0)),
        ("tokenizer.ggml.eos_token_id", Value::U32(0)),
    ]
}

/// Two layers of every type the converter reads: hidden 64, 4 heads of 16, 2 KV heads.
fn llama_tensors(rng: &mut Rng) -> Vec<GgufTensor> {
    let mut ts = Vec::new();
    let mut add = |name: String, ne: &[u64], ty: GgmlType, rng: &mut Rng| {
        let numel = ne.iter().product::<u64>() as usize;
        ts.push(GgufTensor { name, ne: ne.to_vec(), ty, data: random_data(rng, ty, numel) });
    };
    add("token_embd.weight".into(), &[64, 258], GgmlType::Q8_0, rng);
    add("output_norm.weight".into(), &[64], GgmlType::F32, rng);
    add("output.weight".into(), &[64, 258], GgmlType::F16, rng);
    for l in 0..2 {
        let (q, k) = if l == 0 { (GgmlType::Q4_1, GgmlType::Q4_0) } else { (GgmlType::Q8_0, GgmlType::F32) };
        add(format!("blk.{l}.attn_norm.weight"), &[64], GgmlType::F32, rng);
        add(format!("blk.{l}.attn_q.weight"), &[64, 64], q, rng);
        add(format!("blk.{l}.attn_k.weight"), &[64, 32], k, rng);
        add(format!("blk.{l}.attn_v.weight"), &[64, 32], GgmlType::Q4_1, rng);
        add(format!("blk.{l}.attn_output.weight"), &[64, 64], GgmlType::Q4_1, rng);
        add(format!("blk.{l}.ffn_norm.weight"), &[64], GgmlType::F32, rng);
        add(format!("blk.{l}.ffn_gate.weight"), &[64, 96], GgmlType::Q4_0, rng);
        add(format!("blk.{l}.ffn_up.weight"), &[64, 96], GgmlType::Q4_1, rng);
        add(format!("blk.{l}.ffn_down.weight"), &[96, 64], GgmlType::Q8_0, rng);
    }
    ts
}

#[test]
fn synthetic_llama_gguf_converts_losslessly() {
    let dir = scratch("synthetic");
    let gguf = dir.join("tiny.gguf");
    std::fs::write(&gguf, write_gguf(3, &llama_meta("llama"), &llama_tensors(&mut Rng(11)))).unwrap();
    let out = dir.join("out");
    ok(&["convert", s(&gguf), s(&out)]);
    check_against_gguf(&gguf, &out);
    let tok = std::fs::read_to_string(out.join("tokenizer.json")).unwrap();
    let tok = tokenizers::Tokenizer::from_str(&tok).unwrap_or_else(|e| panic!("tokenizer.json: {e}"));
    assert_eq!(tok.encode(" t", false).unwrap().get_tokens(), ["Ġt"]);
    let report: serde_json::Value = serde_json::from_slice(&ok(&["inspect", s(&out), "--json"]).stdout).unwrap();
    let q = report["tensors"].as_array().unwrap().iter().find(|r| r["name"] == "model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!((q["dtype"].as_str(), q["shape"].clone(), q["quantization"]["bits"].as_u64()), (Some("affine"), serde_json::json!([64, 64]), Some(4)));
    assert_eq!(report["totals"]["tensors"], 21);
    assert_eq!(report["totals"]["quantized_tensors"], 14);
    // Asking for other bits requantizes every weight, floats included; the config says so.
    let out8 = dir.join("out8");
    let run = ok(&["convert", s(&gguf), s(&out8), "--bits", "8", "--group", "64"]);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out8.join("config.json")).unwrap()).unwrap();
    // ffn_down's 96 columns split into no group of 64: those keep their own encoding, noted.
    assert!(String::from_utf8_lossy(&run.stderr).contains("blk.0.ffn_down.weight: kept as Q8_0 (96 columns"));
    let keep = serde_json::json!({"bits": 8, "group_size": 32});
    let want = serde_json::json!({"bits": 8, "group_size": 64, "model.layers.0.mlp.down_proj": keep, "model.layers.1.mlp.down_proj": keep});
    assert_eq!(config["quantization"], want);
    let report: serde_json::Value = serde_json::from_slice(&ok(&["inspect", s(&out8), "--json"]).stdout).unwrap();
    assert_eq!((report["totals"]["quantized_tensors"].as_u64(), report["totals"]["tensors"].as_u64()), (Some(16), Some(21)), "all 2-D weights quantized");
    // Requantized values stay within half a step of the lossless conversion's.
    let (exact, requantized) = (std::fs::read(out.join("model.safetensors")).unwrap(), std::fs::read(out8.join("model.safetensors")).unwrap());
    let (exact, requantized) = (SafeTensors::parse("exact", &exact).unwrap(), SafeTensors::parse("8-bit", &requantized).unwrap());
    for p in ["model.embed_tokens", "lm_head", "model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.0.mlp.up_proj"] {
        let want = match exact.header.get(&format!("{p}.scales")) {
            Some(_) => dequantize(&read_affine(&exact, p, if p.contains("embed") { 8 } else { 4 }, 32).unwrap()),
            None => exact.tensor(&format!("{p}.weight")).unwrap().to_f32().unwrap(),
        };
        let m = read_affine(&requantized, p, 8, 64).unwrap();
        for (i, (g, w)) in dequantize(&m).iter().zip(&want).enumerate() {
            let bound = m.scales[(i / m.cols) * m.groups_per_row() + (i % m.cols) / 64] / 2.0 + w.abs() * f32::EPSILON * 4.0;
            assert!((g - w).abs() <= bound, "{p}[{i}]: {g} vs {w}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smollm2_gguf_converts_losslessly() {
    let Some(path) = common::smollm2_gguf() else { return };
    let dir = scratch("smollm2");
    let out = dir.join("smollm2");
    ok(&["convert", s(&path), s(&out)]);
    assert!(check_against_gguf(&path, &out) > 134_000_000);
    let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    assert_eq!(tok.encode("Once upon a time", false).unwrap().get_ids(), [6403, 1980, 253, 655]);
    let tc: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!((tc["bos_token"].as_str(), tc["eos_token"].as_str()), (Some("<|im_start|>"), Some("<|im_end|>")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny Hugging Face folder: f32, f16 and bf16 weights, a norm, position
/// embeddings, an int buffer, a weight whose columns fit no group, tokenizer files.
fn write_hf_folder(dir: &Path, rng: &mut Rng) -> Vec<(String, Vec<f32>)> {
    let mut vals = Vec::new();
    let mut values = |name: &str, n: usize, scale: f32| {
        let v: Vec<f32> = (0..n).map(|_| rng.uniform() * scale).collect();
        vals.push((name.to_string(), v.clone()));
        v
    };
    let (emb, q, down, norm, pos, odd) = (
        f32_bytes(&values("model.embed_tokens.weight", 50 * 128, 1.0)),
        f16_bytes(&values("model.layers.0.self_attn.q_proj.weight", 96 * 128, 0.1)),
        bf16_bytes(&values("model.layers.0.mlp.down_proj.weight", 128 * 256, 3.0)),
        f32_bytes(&values("model.layers.0.input_layernorm.weight", 128, 1.0)),
        f32_bytes(&values("embeddings.position_embeddings.weight", 16 * 128, 1.0)),
        f32_bytes(&values("classifier.weight", 3 * 100, 1.0)),
    );
    // f16 and bf16 sources hold rounded values: keep what was written.
    for (name, v) in vals.iter_mut() {
        if name.contains("q_proj") {
            v.iter_mut().for_each(|x| *x = half::f16::from_f32(*x).to_f32());
        } else if name.contains("down_proj") {
            v.iter_mut().for_each(|x| *x = half::bf16::from_f32(*x).to_f32());
        }
    }
    let ids: Vec<u8> = (0..16i64).flat_map(|i| i.to_le_bytes()).collect();
    let entries = [
        Entry { name: "model.embed_tokens.weight", dtype: Dtype::F32, shape: &[50, 128], bytes: &emb },
        Entry { name: "model.layers.0.self_attn.q_proj.weight", dtype: Dtype::F16, shape: &[96, 128], bytes: &q },
        Entry { name: "model.layers.0.mlp.down_proj.weight", dtype: Dtype::BF16, shape: &[128, 256], bytes: &down },
        Entry { name: "model.layers.0.input_layernorm.weight", dtype: Dtype::F32, shape: &[128], bytes: &norm },
        Entry { name: "embeddings.position_embeddings.weight", dtype: Dtype::F32, shape: &[16, 128], bytes: &pos },
        Entry { name: "classifier.weight", dtype: Dtype::F32, shape: &[3, 100], bytes: &odd },
        Entry { name: "embeddings.position_ids", dtype: Dtype::I64, shape: &[1, 16], bytes: &ids },
    ];
    let st = serialize("model.safetensors", &entries, &Default::default()).unwrap();
    std::fs::write(dir.join("model.safetensors"), st).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "llama", "hidden_size": 128}"#).unwrap();
    std::fs::write(dir.join("tokenizer.json"), r#"{"version": "1.0"}"#).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), r#"{"eos_token": "</s>"}"#).unwrap();
    vals
}

#[test]
fn hf_folder_quantizes_at_4_and_8_bits_within_half_a_step() {
    let dir = scratch("hf");
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    let vals = write_hf_folder(&src, &mut Rng(21));
    for (bits, group) in [(4u32, 32usize), (8, 64), (4, 128)] {
        let out = dir.join(format!("q{bits}g{group}"));
        let run = ok(&["convert", s(&src), s(&out), "--bits", &bits.to_string(), "--group", &group.to_string()]);
        assert!(String::from_utf8_lossy(&run.stderr).contains("classifier.weight: kept as F32 (100 columns"), "the odd weight is noted");
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["quantization"], serde_json::json!({"bits": bits, "group_size": group}));
        assert_eq!(config["hidden_size"], 128);
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(src.join(f)).unwrap(), "{f} copied");
        }
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = SafeTensors::parse("model.safetensors", &bytes).unwrap();
        for (name, want) in &vals {
            let prefix = name.strip_suffix(".weight").unwrap();
            let quantized = ["embed_tokens", "q_proj", "down_proj"].iter().any(|k| name.contains(k));
            if !quantized {
                let t = st.tensor(name).unwrap();
                assert_eq!(t.dtype, Dtype::F32, "{name} stays f32");
                assert_eq!(&t.to_f32().unwrap(), want, "{name} unchanged");
                continue;
            }
            assert!(st.header.get(name).is_some_and(|t| t.dtype == Dtype::U32), "{name} packed");
            let m = read_affine(&st, prefix, bits, group).unwrap();
            let got = dequantize(&m);
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let step = m.scales[(i / m.cols) * m.groups_per_row() + (i % m.cols) / group];
                let bound = step / 2.0 + w.abs() * f32::EPSILON * 4.0;
                assert!((g - w).abs() <= bound, "{name}[{i}] at {bits} bits: {g} vs {w} (bound {bound})");
            }
        }
        assert_eq!(st.tensor("embeddings.position_ids").unwrap().bytes, (0..16i64).flat_map(|i| i.to_le_bytes()).collect::<Vec<_>>());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a conversion that must fail: non-zero exit, a message containing every
/// `wants`, and nothing left at the output path.
fn fails(args: &[&str], out: &Path, wants: &[&str]) {
    let run = webfm(args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{args:?} should fail");
    assert!(err.starts_with("webfm: "), "{args:?}: {err}");
    for w in wants {
        assert!(err.contains(w), "{args:?}: missing {w:?} in {err}");
    }
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let dir = scratch("bad");
    let out = dir.join("out");
    let missing = dir.join("missing.gguf");
    fails(&["convert", s(&missing), s(&out)], &out, &["missing.gguf", "No such file"]);
    let gpt2 = dir.join("gpt2.gguf");
    std::fs::write(&gpt2, write_gguf(3, &llama_meta("gpt2"), &[])).unwrap();
    fails(&["convert", s(&gpt2), s(&out)], &out, &["gpt2.gguf", "architecture 'gpt2'", "llama"]);
    let mut ts = llama_tensors(&mut Rng(5));
    ts[4] = GgufTensor { name: "blk.0.attn_q.weight".into(), ne: vec![256, 64], ty: GgmlType(12), data: vec![0; 64 * 144] };
    let q4k = dir.join("q4k.gguf");
    std::fs::write(&q4k, write_gguf(3, &llama_meta("llama"), &ts)).unwrap();
    fails(&["convert", s(&q4k), s(&out)], &out, &["q4k.gguf", "blk.0.attn_q.weight", "Q4_K"]);
    let good = dir.join("good.gguf");
    std::fs::write(&good, write_gguf(3, &llama_meta("llama"), &llama_tensors(&mut Rng(5)))).unwrap();
    fails(&["convert", s(&good), s(&out), "--bits", "3"], &out, &["--bits must be 4 or 8, got 3"]);
    fails(&["convert", s(&good), s(&out), "--group", "16"], &out, &["--group must be 32, 64 or 128"]);
    fails(&["convert", s(&good)], &out, &["two paths"]);
    fails(&["convert", s(&dir), s(&out)], &out, &["config.json"]);
    fails(&["inspect", s(&missing)], &out, &["missing.gguf"]);
    // An existing, non-empty output folder is left alone.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let run = webfm(&["convert", s(&good), s(&out)]);
    assert!(!run.status.success() && String::from_utf8_lossy(&run.stderr).contains("not an empty folder"));
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    for cmd in ["convert", "inspect"] {
        let run = ok(&[cmd, "--help"]);
        assert!(String::from_utf8_lossy(&run.stdout).starts_with(&format!("usage: webfm {cmd}")));
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("webfm-tmp")).collect();
    assert!(leftovers.is_empty(), "temporary folders left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
