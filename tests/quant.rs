//! Affine group quantization: exact packing on the worked example of
//! `docs/FORMAT.md`, and the half-step error bound on random matrices.

use webfm::quant::{affine, dequantize, quantize, quantize_with, QuantizedMatrix, ScaleDType};

/// SplitMix64: deterministic test data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// The 1×64, 4-bit, group-32 example of docs/FORMAT.md.
fn example_4bit() -> Vec<f32> {
    let mut w: Vec<f32> = (0..32).map(|c| -1.0 + 0.5 * ((c * 7) % 16) as f32).collect();
    w.extend([0.25f32; 32]);
    w
}

#[test]
fn worked_example_4bit_packs_exactly() {
    let m = quantize(&example_4bit(), 1, 64, 4, 32).unwrap();
    let hex: Vec<String> = m.packed.iter().map(|w| format!("{w:08x}")).collect();
    assert_eq!(hex, ["1a3c5e70", "92b4d6f8", "1a3c5e70", "92b4d6f8", "00000000", "00000000", "00000000", "00000000"]);
    assert_eq!(m.scales, [0.5, 0.0]);
    assert_eq!(m.biases, [-1.0, 0.25]);
    assert_eq!(m.code(0, 2), 14);
    assert_eq!(dequantize(&m), example_4bit(), "this example is exactly representable");
    // The words as file bytes (U32 little-endian): 70 5e 3c 1a ...
    let bytes: Vec<u8> = m.packed.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(&bytes[..4], &[0x70, 0x5e, 0x3c, 0x1a]);
}

#[test]
fn worked_example_8bit_packs_exactly() {
    let mut codes: Vec<u32> = (0..32).map(|c| (c * 37) % 256).collect();
    codes[31] = 255;
    let w: Vec<f32> = codes.iter().map(|&q| -16.0 + 0.125 * q as f32).collect();
    let m = quantize(&w, 1, 32, 8, 32).unwrap();
    let hex: Vec<String> = m.packed.iter().map(|w| format!("{w:08x}")).collect();
    assert_eq!(hex, ["6f4a2500", "03deb994", "97724d28", "2b06e1bc", "bf9a7550", "532e09e4", "e7c29d78", "ff56310c"]);
    assert_eq!((m.scales[0], m.biases[0]), (0.125, -16.0));
    assert_eq!(dequantize(&m), w);
}

/// Every value within half a step of its group (plus float rounding).
fn check_round_trip(w: &[f32], m: &QuantizedMatrix, label: &str) {
    let deq = dequantize(m);
    let max_code = ((1u32 << m.bits) - 1) as f32;
    for r in 0..m.rows {
        for c in 0..m.cols {
            let k = r * m.groups_per_row() + c / m.group;
            let (scale, bias) = (m.scales[k], m.biases[k]);
            let i = r * m.cols + c;
            // Named tolerance: half a step, plus a few f32 ulps of the magnitudes involved.
            let eps = 4.0 * f32::EPSILON * (w[i].abs() + bias.abs() + max_code * scale);
            let err = (deq[i] - w[i]).abs();
            assert!(err <= scale / 2.0 + eps, "{label}: ({r}, {c}) w={} deq={} err={err} scale={scale} bias={bias}", w[i], deq[i]);
        }
    }
}

#[test]
fn round_trip_error_is_at_most_half_a_step() {
    let mut rng = Rng(7);
    let shapes = [(1, 32), (7, 64), (33, 128), (3, 384), (2, 1024), (257, 256)];
    for &(rows, cols) in &shapes {
        // Mix scales and offsets: small weights, a shifted row, a constant row.
        let mut w: Vec<f32> = (0..rows * cols).map(|_| rng.uniform() * 0.05).collect();
        if rows > 1 {
            w[cols..2 * cols].iter_mut().for_each(|x| *x = *x * 100.0 + 3.0);
        }
        if rows > 2 {
            w[2 * cols..3 * cols].iter_mut().for_each(|x| *x = -0.125);
        }
        for bits in [4, 8] {
            for group in [32, 64, 128] {
                if cols % group != 0 {
                    continue;
                }
                for t in [ScaleDType::F32, ScaleDType::F16, ScaleDType::BF16] {
                    let label = format!("[{rows}, {cols}] b={bits} g={group} {t:?}");
                    let m = quantize_with(&w, rows, cols, bits, group, t).unwrap();
                    assert_eq!(m.packed.len(), rows * cols * bits as usize / 32, "{label}");
                    assert_eq!(m.scales.len(), rows * cols / group, "{label}");
                    assert!(m.scales_fit(t), "{label}: scales not representable in {t:?}");
                    check_round_trip(&w, &m, &label);
                }
            }
        }
    }
}

#[test]
fn codes_cover_the_full_range_and_pack_in_order() {
    let mut rng = Rng(11);
    let w: Vec<f32> = (0..4 * 128).map(|_| rng.uniform()).collect();
    for bits in [4u32, 8] {
        let m = quantize(&w, 4, 128, bits, 64).unwrap();
        let max = (1u32 << bits) - 1;
        for r in 0..4 {
            for g in 0..2 {
                let codes: Vec<u32> = (0..64).map(|c| m.code(r, g * 64 + c)).collect();
                assert_eq!(codes.iter().min(), Some(&0), "min of each group gets code 0");
                assert_eq!(codes.iter().max(), Some(&max), "max of each group gets the top code");
            }
        }
        // Repacking the codes row by row gives the same words.
        for r in 0..4 {
            let codes: Vec<u8> = (0..128).map(|c| m.code(r, c) as u8).collect();
            let mut words = vec![0u32; m.words_per_row()];
            affine::pack_row(&codes, bits, &mut words);
            assert_eq!(words, m.packed[r * m.words_per_row()..(r + 1) * m.words_per_row()]);
        }
    }
}

#[test]
fn from_parts_checks_lengths() {
    let m = quantize(&example_4bit(), 1, 64, 4, 32).unwrap();
    let ok = QuantizedMatrix::from_parts(1, 64, 4, 32, m.packed.clone(), m.scales.clone(), m.biases.clone()).unwrap();
    assert_eq!(ok, m);
    let msg = QuantizedMatrix::from_parts(1, 64, 4, 32, m.packed[..7].to_vec(), m.scales.clone(), m.biases.clone()).unwrap_err().to_string();
    assert!(msg.contains("packed has 7 values, expected 8"), "{msg}");
    let msg = QuantizedMatrix::from_parts(1, 64, 8, 32, m.packed.clone(), m.scales.clone(), m.biases.clone()).unwrap_err().to_string();
    assert!(msg.contains("expected 16"), "{msg}");
}

#[test]
fn huge_range_errors_for_f16_scales_instead_of_overflowing() {
    let mut w = vec![0.0f32; 32];
    w[0] = 1.0e6;
    let msg = quantize_with(&w, 1, 32, 4, 32, ScaleDType::F16).unwrap_err().to_string();
    assert!(msg.contains("row 0, group 0") && msg.contains("F16"), "{msg}");
    assert!(quantize(&w, 1, 32, 4, 32).is_ok());
}
