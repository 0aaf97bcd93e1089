//! A deterministic stand-in for the `cargo fuzz` targets in `fuzz/`: both
//! weight-file parsers (and the conversions after them) run over thousands of
//! mutated valid files and must return, never panic. They run what the
//! targets `safetensors_header` and `gguf` run (`fuzz/exercise.rs`); the
//! inputs a fuzzer found are replayed by `tests/fuzz_regressions.rs`.

mod common;
#[path = "../fuzz/exercise.rs"]
mod exercise;

use common::{all_value_types, random_data, write_gguf, GgufTensor, Rng};
use exercise::{gguf as exercise_gguf, safetensors_header as exercise_safetensors};
use std::collections::BTreeMap;
use webfm::weights::gguf::Gguf;
use webfm::weights::gguf_types::GgmlType;
use webfm::weights::safetensors::{Dtype, SafeTensors};
use webfm::weights::safetensors_write::{f16_bytes, f32_bytes, serialize, Entry};

const MUTATIONS: usize = 10_000;

/// With `WEBFM_FUZZ_SEEDS` set, the valid files become seeds for `cargo fuzz`.
fn write_seed(target: &str, bytes: &[u8]) {
    if std::env::var_os("WEBFM_FUZZ_SEEDS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("valid"), bytes).unwrap();
    }
}

/// One random edit: flip bits, overwrite a u64 with an extreme value, splice
/// bytes in or out, or truncate.
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for _ in 0..=rng.below(3) {
        let len = b.len() as u64;
        let at = rng.below(len.max(1)) as usize;
        match rng.below(6) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
            1 if !b.is_empty() => b[at] = [0x00, 0xff, 0x7f, 0x80, b'"', b'9'][rng.below(6) as usize],
            2 if b.len() >= 8 => {
                let at = at.min(b.len() - 8);
                let v = [0, 1, u64::MAX, 1 << 63, len, len - 1, u32::MAX as u64, rng.next()][rng.below(8) as usize];
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            3 => {
                let n = rng.below(16) as usize;
                let extra = rng.bytes(n);
                b.splice(at..at, extra);
            }
            4 => {
                let end = (at + rng.below(16) as usize).min(b.len());
                b.drain(at..end);
            }
            _ => b.truncate(at),
        }
    }
    b
}

#[test]
fn safetensors_parser_never_panics_on_mutations() {
    let vals: Vec<f32> = (0..24).map(|i| i as f32 - 3.5).collect();
    let (f, h) = (f32_bytes(&vals), f16_bytes(&vals));
    let entries = [
        Entry { name: "model.embed.weight", dtype: Dtype::F32, shape: &[4, 6], bytes: &f },
        Entry { name: "model.norm.weight", dtype: Dtype::F16, shape: &[24], bytes: &h },
        Entry { name: "model.q.weight", dtype: Dtype::U32, shape: &[2, 3], bytes: &f[..24] },
    ];
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let valid = serialize("valid.safetensors", &entries, &meta).unwrap();
    exercise_safetensors(&valid);
    write_seed("safetensors_header", &valid);
    let mut rng = Rng(0x5afe);
    let mut parsed = 0;
    for _ in 0..MUTATIONS {
        let b = mutate(&mut rng, &valid);
        exercise_safetensors(&b);
        parsed += SafeTensors::parse("m", &b).is_ok() as usize;
    }
    eprintln!("safetensors: {MUTATIONS} mutations, {parsed} still parsed");
}

#[test]
fn gguf_parser_never_panics_on_mutations() {
    let mut rng = Rng(0x6699);
    let tensors: Vec<GgufTensor> =
        [(GgmlType::Q4_0, vec![64, 2]), (GgmlType::Q4_1, vec![32]), (GgmlType::Q8_0, vec![32, 2]), (GgmlType::F16, vec![8, 3]), (GgmlType::F32, vec![5])]
            .into_iter()
            .enumerate()
            .map(|(i, (ty, ne))| {
                let numel = ne.iter().product::<u64>() as usize;
                GgufTensor { name: format!("blk.{i}.weight"), ne, ty, data: random_data(&mut rng, ty, numel) }
            })
            .collect();
    let valid = write_gguf(3, &all_value_types(), &tensors);
    exercise_gguf(&valid);
    write_seed("gguf", &valid);
    let mut parsed = 0;
    for _ in 0..MUTATIONS {
        let b = mutate(&mut rng, &valid);
        exercise_gguf(&b);
        parsed += Gguf::parse("m", &b).is_ok() as usize;
    }
    eprintln!("gguf: {MUTATIONS} mutations, {parsed} still parsed");
}
