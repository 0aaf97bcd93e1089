//! `webfm inspect` as the binary: GGUF files, lone safetensors files (affine
//! triples with and without a config.json), sharded folders, bad files.

mod common;

use common::{random_data, write_gguf, GgufTensor, Rng};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use webfm::quant::quantize;
use webfm::weights::gguf_types::{GgmlType, Value};
use webfm::weights::quantized::affine_tensors;
use webfm::weights::safetensors::Dtype;
use webfm::weights::safetensors_write::{f32_bytes, serialize, Entry};

fn webfm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webfm")).args(args).output().expect("run webfm")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = webfm(args);
    assert!(out.status.success(), "webfm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("webfm-inspect-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tensors"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn gguf_tensors_types_and_totals() {
    let dir = scratch("gguf");
    let mut rng = Rng(1);
    let mk = |name: &str, ne: &[u64], ty: GgmlType, rng: &mut Rng| {
        let numel = ne.iter().product::<u64>() as usize;
        let (be, bb) = ty.block().unwrap();
        let data = if ty == GgmlType(12) { vec![0; numel / be * bb] } else { random_data(rng, ty, numel) };
        GgufTensor { name: name.into(), ne: ne.to_vec(), ty, data }
    };
    let ts = vec![
        mk("a", &[64, 3], GgmlType::Q4_0, &mut rng),
        mk("b", &[32], GgmlType::F32, &mut rng),
        mk("c", &[32, 2], GgmlType::Q8_0, &mut rng),
        mk("d", &[256], GgmlType(12), &mut rng),
    ];
    let path = dir.join("m.gguf");
    std::fs::write(&path, write_gguf(3, &[("general.architecture", Value::String("llama".into()))], &ts)).unwrap();
    let r = json(&["inspect", path.to_str().unwrap(), "--json"]);
    assert_eq!(r["format"], "gguf");
    assert_eq!(r["info"]["architecture"], "llama");
    assert_eq!((row(&r, "a")["dtype"].as_str(), row(&r, "a")["shape"].clone()), (Some("Q4_0"), serde_json::json!([3, 64])));
    assert_eq!(row(&r, "a")["quantization"], serde_json::json!({"bits": 4, "group": 32, "scales": "F16"}));
    assert_eq!(row(&r, "c")["quantization"]["bits"], 8);
    assert!(row(&r, "b").get("quantization").is_none());
    assert_eq!(row(&r, "d")["quantization"]["note"], "not converted by webfm");
    let t = &r["totals"];
    assert_eq!((t["tensors"].as_u64(), t["bytes"].as_u64(), t["parameters"].as_u64()), (Some(4), Some(6 * 18 + 128 + 2 * 34 + 144), Some(192 + 32 + 64 + 256)));
    assert_eq!((t["quantized_tensors"].as_u64(), t["quantized_parameters"].as_u64()), (Some(2), Some(256)));
    let text = String::from_utf8(webfm(&["inspect", path.to_str().unwrap()]).stdout).unwrap();
    assert!(
        text.contains("name") && text.contains("Q4_0") && text.contains("4-bit g32") && text.lines().last().unwrap().starts_with("total: 4 tensors"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file with one 4-bit, group-64 affine triple `[4, 256]` and a float norm.
fn affine_file(path: &Path) {
    let mut rng = Rng(2);
    let w: Vec<f32> = (0..4 * 256).map(|_| rng.uniform()).collect();
    let m = quantize(&w, 4, 256, 4, 64).unwrap();
    let parts = affine_tensors("layer.proj", &m, webfm::quant::ScaleDType::F16);
    let norm = f32_bytes(&[1.0; 8]);
    let mut entries: Vec<Entry> = parts.iter().map(|(n, d, s, b)| Entry { name: n, dtype: *d, shape: s, bytes: b }).collect();
    entries.push(Entry { name: "layer.norm.weight", dtype: Dtype::F32, shape: &[8], bytes: &norm });
    std::fs::write(path, serialize("x", &entries, &Default::default()).unwrap()).unwrap();
}

#[test]
fn affine_triples_are_one_row_with_bits_from_the_config() {
    let dir = scratch("affine");
    let file = dir.join("model.safetensors");
    affine_file(&file);
    // Without config.json: [4, 32] words and [4, 4] groups fit 4-bit g64 and 8-bit g32 alike.
    let r = json(&["inspect", file.to_str().unwrap(), "--json"]);
    let p = row(&r, "layer.proj.weight");
    assert_eq!((p["dtype"].as_str(), p["shape"].clone()), (Some("affine"), serde_json::json!([4, 32])));
    assert!(p["quantization"]["note"].as_str().unwrap().contains("(4, 64), (8, 32)"), "{p}");
    assert_eq!(r["totals"]["tensors"], 2);
    std::fs::write(dir.join("config.json"), r#"{"model_type": "x", "quantization": {"group_size": 64, "bits": 4}}"#).unwrap();
    for path in [&file, &dir] {
        let r = json(&["inspect", path.to_str().unwrap(), "--json"]);
        let p = row(&r, "layer.proj.weight");
        assert_eq!(p["shape"], serde_json::json!([4, 256]));
        assert_eq!(p["quantization"], serde_json::json!({"bits": 4, "group": 64, "scales": "F16"}));
        assert_eq!(p["bytes"], 4 * 32 * 4 + 2 * 4 * 4 * 2);
        assert_eq!((r["totals"]["quantized_parameters"].as_u64(), r["totals"]["parameters"].as_u64()), (Some(1024), Some(1032)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sharded_folders_name_each_rows_shard() {
    let dir = scratch("sharded");
    for (shard, name) in [("a.safetensors", "x.weight"), ("b.safetensors", "y.weight")] {
        let bytes = f32_bytes(&[0.5; 6]);
        let e = [Entry { name, dtype: Dtype::F32, shape: &[2, 3], bytes: &bytes }];
        std::fs::write(dir.join(shard), serialize(shard, &e, &Default::default()).unwrap()).unwrap();
    }
    std::fs::write(dir.join("model.safetensors.index.json"), r#"{"weight_map": {"x.weight": "a.safetensors", "y.weight": "b.safetensors"}}"#).unwrap();
    let r = json(&["inspect", dir.to_str().unwrap(), "--json"]);
    assert_eq!((row(&r, "x.weight")["file"].as_str(), row(&r, "y.weight")["file"].as_str()), (Some("a.safetensors"), Some("b.safetensors")));
    assert_eq!(r["totals"]["bytes"], 48);
    // A shard that disagrees with the index is an error naming it.
    std::fs::write(dir.join("model.safetensors.index.json"), r#"{"weight_map": {"x.weight": "b.safetensors", "y.weight": "b.safetensors"}}"#).unwrap();
    let out = webfm(&["inspect", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("b.safetensors") && err.contains("x.weight"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_exit_non_zero_with_a_message() {
    let dir = scratch("bad");
    let file = dir.join("model.safetensors");
    affine_file(&file);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let truncated = webfm(&["inspect", file.to_str().unwrap()]);
    assert!(!truncated.status.success() && String::from_utf8_lossy(&truncated.stderr).contains("truncated"));
    std::fs::write(&file, b"GGUF\x01\x00\x00\x00").unwrap();
    let gguf = webfm(&["inspect", file.to_str().unwrap()]);
    assert!(!gguf.status.success() && String::from_utf8_lossy(&gguf.stderr).contains("version 2 or 3"));
    let empty_dir = webfm(&["inspect", dir.join("nothing").to_str().unwrap()]);
    assert!(!empty_dir.status.success() && String::from_utf8_lossy(&empty_dir.stderr).starts_with("webfm: "));
    let two = webfm(&["inspect", "a", "b"]);
    assert!(!two.status.success() && String::from_utf8_lossy(&two.stderr).contains("one path"));
    let _ = std::fs::remove_dir_all(&dir);
}
