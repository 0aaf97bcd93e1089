//! Affine group quantization in MLX's layout: a `[out, in]` weight becomes
//! packed b-bit codes plus one (scale, bias) pair per group of g inputs.
//!
//! Legend: `O` output features (rows), `I` input features (columns),
//! `b` bits (4 or 8), `g` group size (32, 64 or 128), `W = I*b/32` words per row,
//! `G = I/g` groups per row. Element `(o, i)` is
//! `scales[o, i/g] * code(o, i) + biases[o, i/g]`, evaluated in f32 as a
//! multiply then an add (no fused multiply-add), and `code(o, i)` sits in
//! word `packed[o, i*b/32]` at bits `[(i*b) % 32, (i*b) % 32 + b)`.
//! The exact rules and a worked example are in `docs/FORMAT.md`.

use super::scale::ScaleDType;
use crate::error::{Error, Result};

pub const BITS: [u32; 2] = [4, 8];
pub const GROUPS: [usize; 3] = [32, 64, 128];

/// A quantized `[rows, cols]` matrix (rows = out features, cols = in features).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    pub rows: usize,
    pub cols: usize,
    pub bits: u32,
    pub group: usize,
    /// `[rows, cols*bits/32]`, little-endian bit stream per row.
    pub packed: Vec<u32>,
    /// `[rows, cols/group]`
    pub scales: Vec<f32>,
    /// `[rows, cols/group]`
    pub biases: Vec<f32>,
}

/// Checks `bits`, `group` and that `cols` splits into whole groups.
pub fn check_params(rows: usize, cols: usize, bits: u32, group: usize) -> Result<()> {
    if !BITS.contains(&bits) {
        return Err(Error::InvalidArgument(format!("affine quantization: bits must be 4 or 8, got {bits}")));
    }
    if !GROUPS.contains(&group) {
        return Err(Error::InvalidArgument(format!("affine quantization: group size must be 32, 64 or 128, got {group}")));
    }
    if cols == 0 || !cols.is_multiple_of(group) {
        return Err(Error::InvalidArgument(format!(
            "affine quantization: a [{rows}, {cols}] matrix needs its {cols} columns to be a positive multiple of the group size {group}"
        )));
    }
    // Every size derived later (rows * cols, cols * bits, the word count) must fit.
    rows.checked_mul(cols)
        .and_then(|_| cols.checked_mul(bits as usize))
        .map(|_| ())
        .ok_or_else(|| Error::InvalidArgument(format!("affine quantization: [{rows}, {cols}] at {bits} bits overflows")))
}

impl QuantizedMatrix {
    /// Assembles a matrix from parts read from a file, checking every length.
    pub fn from_parts(rows: usize, cols: usize, bits: u32, group: usize, packed: Vec<u32>, scales: Vec<f32>, biases: Vec<f32>) -> Result<Self> {
        check_params(rows, cols, bits, group)?;
        let m = QuantizedMatrix { rows, cols, bits, group, packed, scales, biases };
        let words = rows * m.words_per_row();
        let groups = rows * m.groups_per_row();
        for (what, len, want) in [("packed", m.packed.len(), words), ("scales", m.scales.len(), groups), ("biases", m.biases.len(), groups)] {
            if len != want {
                return Err(Error::InvalidArgument(format!(
                    "quantized [{rows}, {cols}] at {bits} bits, group {group}: {what} has {len} values, expected {want}"
                )));
            }
        }
        Ok(m)
    }

    /// `W = cols * bits / 32`
    pub fn words_per_row(&self) -> usize {
        self.cols * self.bits as usize / 32
    }

    /// `G = cols / group`
    pub fn groups_per_row(&self) -> usize {
        self.cols / self.group
    }

    /// The code of element `(r, c)`.
    pub fn code(&self, r: usize, c: usize) -> u32 {
        let b = self.bits as usize;
        let word = self.packed[r * self.words_per_row() + c * b / 32];
        (word >> ((c * b) % 32)) & ((1u32 << b) - 1)
    }

    /// Dequantizes row `r` into `out` (`cols` values).
    ///
    /// Reads the codes byte by byte (for 4 bits, byte `b` of a row holds
    /// codes `2b` and `2b + 1` in its low and high nibble), a form the
    /// compiler vectorizes; the values are [`dequant_one`]'s, exactly.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (g, gpr, wpr) = (self.group, self.groups_per_row(), self.words_per_row());
        let bytes: &[u8] = bytemuck::cast_slice(&self.packed[r * wpr..(r + 1) * wpr]);
        for (q, o) in out[..self.cols].chunks_exact_mut(g).enumerate() {
            let (s, b) = (self.scales[r * gpr + q], self.biases[r * gpr + q]);
            if self.bits == 4 {
                for (pair, &byte) in o.chunks_exact_mut(2).zip(&bytes[q * g / 2..(q + 1) * g / 2]) {
                    pair[0] = dequant_one(s, (byte & 15) as u32, b);
                    pair[1] = dequant_one(s, (byte >> 4) as u32, b);
                }
            } else {
                for (x, &byte) in o.iter_mut().zip(&bytes[q * g..(q + 1) * g]) {
                    *x = dequant_one(s, byte as u32, b);
                }
            }
        }
    }

    /// Every scale and bias is exactly representable in `t`.
    pub fn scales_fit(&self, t: ScaleDType) -> bool {
        self.scales.iter().chain(&self.biases).all(|&x| t.holds_exactly(x))
    }
}

/// The one dequantization rule: `scale * code + bias` in f32, multiply then add.
#[inline]
pub fn dequant_one(scale: f32, code: u32, bias: f32) -> f32 {
    scale * code as f32 + bias
}

/// `[rows, cols]` f32, row-major.
pub fn dequantize(m: &QuantizedMatrix) -> Vec<f32> {
    let mut out = vec![0f32; m.rows * m.cols];
    if m.cols > 0 {
        for (r, row) in out.chunks_exact_mut(m.cols).enumerate() {
            m.dequantize_row(r, row);
        }
    }
    out
}

/// Packs one row of codes (each `< 2^bits`) into `cols*bits/32` words.
pub fn pack_row(codes: &[u8], bits: u32, words: &mut [u32]) {
    let b = bits as usize;
    words.iter_mut().for_each(|w| *w = 0);
    for (c, &q) in codes.iter().enumerate() {
        words[c * b / 32] |= (q as u32) << ((c * b) % 32);
    }
}

/// Quantizes a row-major `[rows, cols]` matrix with f32 scales and biases.
pub fn quantize(w: &[f32], rows: usize, cols: usize, bits: u32, group: usize) -> Result<QuantizedMatrix> {
    quantize_with(w, rows, cols, bits, group, ScaleDType::F32)
}

/// Quantizes with scales and biases representable in `t`, so that writing them
/// as `t` loses nothing. Per group (MLX's min/max rule):
/// `bias = min`, `scale = (max - min) / (2^b - 1)`, `code = round((w - bias) / scale)`
/// clamped to `[0, 2^b - 1]`; a constant group gets `scale = 0`, codes 0.
/// For f16/bf16 the bias is rounded down and the scale up, so the group's
/// range stays covered and every error stays within half a step.
pub fn quantize_with(w: &[f32], rows: usize, cols: usize, bits: u32, group: usize, t: ScaleDType) -> Result<QuantizedMatrix> {
    check_params(rows, cols, bits, group)?;
    if w.len() != rows * cols {
        return Err(Error::DataLength { len: w.len(), shape: vec![rows, cols], expected: rows * cols });
    }
    let max_code = ((1u32 << bits) - 1) as f32;
    let (wpr, gpr) = (cols * bits as usize / 32, cols / group);
    let mut packed = vec![0u32; rows * wpr];
    let mut scales = Vec::with_capacity(rows * gpr);
    let mut biases = Vec::with_capacity(rows * gpr);
    let mut codes = vec![0u8; cols];
    for r in 0..rows {
        let row = &w[r * cols..(r + 1) * cols];
        for (k, (vals, qs)) in row.chunks_exact(group).zip(codes.chunks_exact_mut(group)).enumerate() {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &v in vals {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            let bad =
                |what: &str| Error::InvalidArgument(format!("affine quantization: row {r}, group {k} (columns {}..{}): {what}", k * group, (k + 1) * group));
            if !lo.is_finite() || !hi.is_finite() || vals.iter().any(|v| v.is_nan()) {
                return Err(bad("holds a NaN or an infinity"));
            }
            let bias = t.round_down(lo);
            let scale = if hi == bias { 0.0 } else { t.round_up((hi - bias) / max_code) };
            if !bias.is_finite() || !scale.is_finite() {
                return Err(bad(&format!("its range [{lo}, {hi}] does not fit a {} scale and bias", t.name())));
            }
            for (q, &v) in qs.iter_mut().zip(vals) {
                *q = if scale == 0.0 { 0 } else { ((v - bias) / scale).round().clamp(0.0, max_code) as u8 };
            }
            scales.push(scale);
            biases.push(bias);
        }
        pack_row(&codes, bits, &mut packed[r * wpr..(r + 1) * wpr]);
    }
    Ok(QuantizedMatrix { rows, cols, bits, group, packed, scales, biases })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_row_places_code_j_at_bits_j_times_b() {
        let codes: Vec<u8> = (0..8).collect();
        let mut w = [0u32; 1];
        pack_row(&codes, 4, &mut w);
        assert_eq!(w[0], 0x7654_3210);
        let mut w = [0u32; 2];
        pack_row(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef], 8, &mut w);
        assert_eq!(w, [0x6745_2301, 0xefcd_ab89]);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(quantize(&[0.0; 64], 1, 64, 3, 32).is_err());
        assert!(quantize(&[0.0; 64], 1, 64, 4, 16).is_err());
        assert!(quantize(&[0.0; 48], 1, 48, 4, 32).is_err());
        assert!(quantize(&[0.0; 63], 1, 64, 4, 32).is_err());
        let mut w = vec![0.0; 64];
        w[40] = f32::NAN;
        let msg = quantize(&w, 1, 64, 4, 32).unwrap_err().to_string();
        assert!(msg.contains("row 0, group 1"), "{msg}");
    }
}
