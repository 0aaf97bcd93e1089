//! Safetensors reading (whole file, header-only, sharded), quantized
//! safetensors in the affine layout, and every malformed-header case.

mod common;

use common::Rng;
use std::collections::BTreeMap;
use webfm::quant::{quantize_with, ScaleDType};
use webfm::weights::quantized::{affine_tensors, read_affine};
use webfm::weights::safetensors::{header_size, Dtype, Header, SafeTensors, MAX_HEADER_LEN};
use webfm::weights::safetensors_write::{bf16_bytes, f16_bytes, f32_bytes, serialize, u32_bytes, Entry};
use webfm::weights::shards::ShardIndex;

fn err_of<T>(r: webfm::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(msg: &str, wants: &[&str]) {
    for w in wants {
        assert!(msg.contains(w), "missing {w:?} in: {msg}");
    }
}

/// A file of several dtypes; returns its bytes and the f32 values written.
fn sample() -> (Vec<u8>, Vec<f32>) {
    let vals: Vec<f32> = (0..6).map(|i| i as f32 * 0.75 - 2.0).collect();
    let (f32b, f16b, bf16b) = (f32_bytes(&vals), f16_bytes(&vals), bf16_bytes(&vals));
    let u32b = u32_bytes(&[0x1a3c_5e70, 7]);
    let entries = [
        Entry { name: "a.weight", dtype: Dtype::F32, shape: &[2, 3], bytes: &f32b },
        Entry { name: "b.half", dtype: Dtype::F16, shape: &[3, 2], bytes: &f16b },
        Entry { name: "c.bf16", dtype: Dtype::BF16, shape: &[6], bytes: &bf16b },
        Entry { name: "d.packed", dtype: Dtype::U32, shape: &[1, 2], bytes: &u32b },
        Entry { name: "e.mask", dtype: Dtype::Bool, shape: &[3], bytes: &[1, 0, 1] },
        Entry { name: "f.empty", dtype: Dtype::I64, shape: &[0, 4], bytes: &[] },
    ];
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    (serialize("sample.safetensors", &entries, &meta).unwrap(), vals)
}

#[test]
fn reads_every_dtype_and_the_metadata() {
    let (bytes, vals) = sample();
    let st = SafeTensors::parse("sample.safetensors", &bytes).unwrap();
    assert_eq!(st.header.metadata.get("format").map(String::as_str), Some("pt"));
    assert_eq!(st.header.data_start() % 8, 0, "header padded to 8 bytes");
    assert_eq!(st.tensors().count(), 6);
    let a = st.tensor("a.weight").unwrap();
    assert_eq!((a.dtype, a.shape, a.numel()), (Dtype::F32, &[2usize, 3][..], 6));
    assert_eq!(a.to_f32().unwrap(), vals);
    // These values are exact in f16 and bf16.
    assert_eq!(st.tensor("b.half").unwrap().to_f32().unwrap(), vals);
    assert_eq!(st.tensor("c.bf16").unwrap().to_f32().unwrap(), vals);
    assert_eq!(st.tensor("d.packed").unwrap().to_u32().unwrap(), [0x1a3c_5e70, 7]);
    assert_eq!(st.tensor("e.mask").unwrap().bytes, [1, 0, 1]);
    assert_eq!(st.tensor("f.empty").unwrap().bytes.len(), 0);
    assert_has(&err_of(st.tensor("e.mask").unwrap().to_f32()), &["sample.safetensors", "'e.mask'", "F32, F16 or BF16", "BOOL"]);
    assert_has(&err_of(st.tensor("a.weight").unwrap().to_u32()), &["'a.weight'", "U32", "F32"]);
    assert_has(&err_of(st.tensor("nope")), &["sample.safetensors", "'nope'", "6 tensors"]);
}

#[test]
fn header_parses_from_the_leading_bytes_alone() {
    let (bytes, _) = sample();
    let n = header_size("s.safetensors", &bytes[..8]).unwrap() as usize;
    let h = Header::parse("s.safetensors", &bytes[..n]).unwrap();
    assert_eq!(h.data_start() as usize, n);
    assert_eq!(h.data_start() + h.data_len(), bytes.len() as u64);
    assert!(h.check_file_len(bytes.len() as u64).is_ok());
    assert_eq!(h.tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a.weight", "b.half", "c.bf16", "d.packed", "e.mask", "f.empty"]);
    assert_has(&err_of(Header::parse("s.safetensors", &bytes[..n - 1])), &["s.safetensors", "expected a header of", "found only"]);
}

/// A file whose header is `json` followed by `data`.
fn raw(json: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (json.len() as u64).to_le_bytes().to_vec();
    b.extend(json.as_bytes());
    b.extend(data);
    b
}

#[test]
fn truncated_file() {
    let (bytes, _) = sample();
    let msg = err_of(SafeTensors::parse("model.safetensors", &bytes[..bytes.len() - 3]));
    assert_has(&msg, &["model.safetensors", "'e.mask'", "truncated", "expected"]);
    for n in [0, 5, 8, 20] {
        assert_has(&err_of(SafeTensors::parse("model.safetensors", &bytes[..n])), &["model.safetensors", "expected"]);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_has(&err_of(SafeTensors::parse("model.safetensors", &longer)), &["1 bytes past the last tensor"]);
}

#[test]
fn huge_header_length() {
    for n in [u64::MAX, MAX_HEADER_LEN + 1, 1 << 40] {
        let mut b = n.to_le_bytes().to_vec();
        b.extend(b"{}");
        let msg = err_of(SafeTensors::parse("big.safetensors", &b));
        assert_has(&msg, &["big.safetensors", "at most 104857600 bytes", &format!("found {n} bytes")]);
    }
    // Under the cap but past the end of the file.
    let mut b = 1000u64.to_le_bytes().to_vec();
    b.extend(b"{}");
    assert_has(&err_of(SafeTensors::parse("short.safetensors", &b)), &["short.safetensors", "header of 1000 bytes", "only 2 bytes"]);
}

#[test]
fn overlapping_offsets() {
    let json = r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let msg = err_of(SafeTensors::parse("o.safetensors", &raw(json, &[0; 12])));
    assert_has(&msg, &["o.safetensors", "tensor 'y'", "where tensor 'x' ends", "[4, 12]"]);
}

#[test]
fn out_of_range_offsets_and_mismatched_lengths() {
    let json = r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[4096,4104]}}"#;
    let msg = err_of(SafeTensors::parse("r.safetensors", &raw(json, &[0; 8])));
    assert_has(&msg, &["r.safetensors", "tensor 'x'", "truncated", "expected"]);
    let json = r#"{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#;
    let msg = err_of(SafeTensors::parse("l.safetensors", &raw(json, &[0; 20])));
    assert_has(&msg, &["l.safetensors", "tensor 'x'", "spanning 24 bytes", "F32 shape [2, 3]", "found data_offsets [0, 20]"]);
    let json = r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#;
    assert_has(&err_of(SafeTensors::parse("l.safetensors", &raw(json, &[0; 8]))), &["tensor 'x'", "[8, 0]"]);
    let json = r#"{"x":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#;
    assert_has(&err_of(SafeTensors::parse("h.safetensors", &raw(json, &[]))), &["tensor 'x'", "address space"]);
    let json = r#"{"x":{"dtype":"U8","shape":[0,18446744073709551615],"data_offsets":[0,0]}}"#;
    assert!(SafeTensors::parse("z.safetensors", &raw(json, &[])).is_ok() == cfg!(target_pointer_width = "64"));
}

#[test]
fn unknown_dtype() {
    let json = r#"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#;
    let msg = err_of(SafeTensors::parse("d.safetensors", &raw(json, &[0; 2])));
    assert_has(&msg, &["d.safetensors", "tensor 'w'", "\"F8_E4M3\"", "BF16"]);
}

#[test]
fn malformed_headers() {
    let cases: [(&str, &[&str]); 6] = [
        (r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, &["invalid JSON"]),
        (r#"[1,2]"#, &["a JSON object"]),
        (r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, &["tensor 'w'", "shape"]),
        (r#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#, &["tensor 'w'", "missing field `shape`"]),
        (r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, &["tensor 'w'", "twice"]),
        (r#"{"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &["__metadata__ as an object of strings"]),
    ];
    for (json, wants) in cases {
        let msg = err_of(SafeTensors::parse("m.safetensors", &raw(json, &[0; 8])));
        assert_has(&msg, wants);
        assert!(msg.starts_with("m.safetensors"), "{msg}");
    }
}

#[test]
fn sharded_index() {
    let index = br#"{"metadata":{"total_size":40},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.half":"model-00002-of-00002.safetensors","c.bf16":"model-00002-of-00002.safetensors"}}"#;
    let idx = ShardIndex::parse("model.safetensors.index.json", index).unwrap();
    assert_eq!(idx.shards(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    assert_eq!(idx.shard_of("b.half"), Some("model-00002-of-00002.safetensors"));
    assert_eq!(idx.metadata.get("total_size").and_then(|v| v.as_u64()), Some(40));
    let a = f32_bytes(&[1.0, 2.0]);
    let h = f16_bytes(&[1.0, 2.0]);
    let shard1 = serialize("s1", &[Entry { name: "a.weight", dtype: Dtype::F32, shape: &[2], bytes: &a }], &BTreeMap::new()).unwrap();
    let shard2 = serialize(
        "s2",
        &[Entry { name: "b.half", dtype: Dtype::F16, shape: &[2], bytes: &h }, Entry { name: "c.bf16", dtype: Dtype::F16, shape: &[2], bytes: &h }],
        &BTreeMap::new(),
    )
    .unwrap();
    let h1 = Header::parse("model-00001-of-00002.safetensors", &shard1).unwrap();
    let h2 = Header::parse("model-00002-of-00002.safetensors", &shard2).unwrap();
    idx.check_shard("model-00001-of-00002.safetensors", &h1).unwrap();
    idx.check_shard("model-00002-of-00002.safetensors", &h2).unwrap();
    assert_has(
        &err_of(idx.check_shard("model-00002-of-00002.safetensors", &h1)),
        &["model-00001-of-00002.safetensors: tensor 'b.half'", "places in model-00002-of-00002.safetensors"],
    );
    let h12 = Header::parse("model-00002-of-00002.safetensors", &shard1).unwrap(); // a.weight in the wrong shard
    let idx2 = ShardIndex::parse("i.json", br#"{"weight_map":{"a.weight":"model-00001-of-00002.safetensors"}}"#).unwrap();
    assert_has(&err_of(idx2.check_shard("model-00002-of-00002.safetensors", &h12)), &["tensor 'a.weight'", "only in model-00001-of-00002.safetensors"]);
    let bad = br#"{"weight_map":{"a":"../../etc/passwd"}}"#;
    assert_has(&err_of(ShardIndex::parse("i.json", bad)), &["i.json", "tensor 'a'", "inside the model's folder", "../../etc/passwd"]);
    assert_has(&err_of(ShardIndex::parse("i.json", b"{}")), &["i.json", "weight_map"]);
}

#[test]
fn quantized_safetensors_round_trip_and_shape_checks() {
    let mut rng = Rng(21);
    let (rows, cols) = (7, 256);
    let w: Vec<f32> = (0..rows * cols).map(|_| rng.uniform() * 0.1).collect();
    for (bits, group, t) in [(4, 64, ScaleDType::F16), (8, 32, ScaleDType::BF16), (4, 128, ScaleDType::F32)] {
        let m = quantize_with(&w, rows, cols, bits, group, t).unwrap();
        let parts = affine_tensors("model.layers.0.mlp.up_proj", &m, t);
        let entries: Vec<Entry> = parts.iter().map(|(n, d, s, b)| Entry { name: n, dtype: *d, shape: s, bytes: b }).collect();
        let bytes = serialize("q.safetensors", &entries, &BTreeMap::new()).unwrap();
        let st = SafeTensors::parse("q.safetensors", &bytes).unwrap();
        assert_eq!(st.tensor("model.layers.0.mlp.up_proj.weight").unwrap().shape, [rows, cols * bits as usize / 32]);
        let back = read_affine(&st, "model.layers.0.mlp.up_proj", bits, group).unwrap();
        assert_eq!(back, m, "b={bits} g={group} {t:?}");
        // The same file read with the wrong quantization settings names the tensor.
        let other_group = if group == 64 { 32 } else { 64 };
        let msg = err_of(read_affine(&st, "model.layers.0.mlp.up_proj", bits, other_group));
        assert_has(&msg, &["q.safetensors", "model.layers.0.mlp.up_proj.scales", "expected shape"]);
        assert_has(&err_of(read_affine(&st, "model.layers.0.mlp.up_proj", 3, group)), &["up_proj.weight", "bits must be 4 or 8"]);
    }
}
