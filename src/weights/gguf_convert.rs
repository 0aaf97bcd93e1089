//! GGUF tensors → webfm's formats, losslessly: Q4_0, Q4_1 and Q8_0 blocks
//! become the affine layout with group 32, F32/F16/BF16 stay float.
//!
//! Per 32-element block with f16 scale `d` (see `docs/FORMAT.md`):
//! - Q4_0: element = (q - 8)·d, q a nibble → 4-bit code q, scale d, bias -8d;
//! - Q4_1: element = q·d + m → 4-bit code q, scale d, bias m;
//! - Q8_0: element = q·d, q signed → 8-bit code q + 128, scale d, bias -128d.
//!
//! In a Q4 block byte j holds element j in its low nibble and element j + 16
//! in its high nibble; the affine layout packs elements in order instead.
//! Every product code·d is exact in f32 (≤ 8 + 11 significant bits) and so is
//! the sum with the bias, so `scale·code + bias` equals ggml's formula exactly;
//! the one difference is the sign of a zero result (see `docs/FORMAT.md`).

use super::gguf::{byte_size, Gguf, TensorInfo};
use super::gguf_types::GgmlType;
use crate::error::bad;
use crate::error::Result;
use crate::quant::{dequantize, QuantizedMatrix};
use half::{bf16, f16};

/// The group size of every ggml block format we convert.
pub const GROUP: usize = 32;

/// A converted tensor. `shape` is row-major (GGUF's `ne` reversed).
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    /// F32, F16 and BF16 tensors widened exactly to f32; `source` says which.
    Float { shape: Vec<usize>, source: GgmlType, data: Vec<f32> },
    /// Q4_0, Q4_1, Q8_0: `[rows, cols]` with `cols = ne[0]`, all outer dims in `rows`.
    Quantized { shape: Vec<usize>, source: GgmlType, matrix: QuantizedMatrix },
}

impl Converted {
    pub fn shape(&self) -> &[usize] {
        match self {
            Converted::Float { shape, .. } | Converted::Quantized { shape, .. } => shape,
        }
    }

    /// The values as f32 (dequantized for quantized tensors), row-major.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Converted::Float { data, .. } => data.clone(),
            Converted::Quantized { matrix, .. } => dequantize(matrix),
        }
    }
}

/// Converts the tensor `name` of a GGUF file held in `bytes`.
pub fn convert(g: &Gguf, bytes: &[u8], name: &str) -> Result<Converted> {
    let t = g.require(name)?;
    convert_tensor(&g.file, t, g.tensor_bytes(bytes, t)?)
}

/// Converts one tensor from its raw bytes (`t.n_bytes` of them).
pub fn convert_tensor(file: &str, t: &TensorInfo, data: &[u8]) -> Result<Converted> {
    let name = Some(t.name.as_str());
    let n_bytes = byte_size(&t.ne, t.ty).map_err(|(expected, found)| bad(file, name, expected, found))?;
    if n_bytes != t.n_bytes || data.len() as u64 != t.n_bytes {
        return Err(bad(file, name, format!("{} bytes of {} data", t.n_bytes, t.ty), format!("{} bytes", data.len())));
    }
    let (shape, source) = (t.shape(), t.ty);
    let float = |data: Vec<f32>| Ok(Converted::Float { shape: t.shape(), source, data });
    let (bits, block_bytes) = match t.ty {
        GgmlType::F32 => return float(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        GgmlType::F16 => return float(data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()),
        GgmlType::BF16 => return float(data.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()),
        GgmlType::Q4_0 => (4, 18),
        GgmlType::Q4_1 => (4, 20),
        GgmlType::Q8_0 => (8, 34),
        other => {
            return Err(bad(file, name, "a tensor type that converts losslessly: F32, F16, BF16, Q4_0, Q4_1 or Q8_0", format!("type {other}")));
        }
    };
    // byte_size checked ne[0] % 32 == 0 and that numel fits; the block count is numel / 32.
    let cols = t.ne.first().copied().unwrap_or(1) as usize;
    if cols == 0 {
        return Err(bad(file, name, "a non-empty tensor", format!("ne {:?}", t.ne)));
    }
    let rows = t.numel() / cols;
    let n_blocks = rows * cols / GROUP;
    let words_per_block = GROUP * bits / 32;
    let mut packed = vec![0u32; n_blocks * words_per_block];
    let mut scales = Vec::with_capacity(n_blocks);
    let mut biases = Vec::with_capacity(n_blocks);
    for (block, words) in data.chunks_exact(block_bytes).zip(packed.chunks_exact_mut(words_per_block)) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let (bias, codes) = match t.ty {
            GgmlType::Q4_0 => (-8.0 * d, &block[2..]),
            GgmlType::Q4_1 => (f16::from_le_bytes([block[2], block[3]]).to_f32(), &block[4..]),
            _ => (-128.0 * d, &block[2..]), // Q8_0
        };
        if bits == 4 {
            pack_q4_block(codes, words);
        } else {
            pack_q8_block(codes, words);
        }
        scales.push(d);
        biases.push(bias);
    }
    let matrix = QuantizedMatrix::from_parts(rows, cols, bits as u32, GROUP, packed, scales, biases)?;
    Ok(Converted::Quantized { shape, source, matrix })
}

/// 16 bytes of ggml Q4 nibbles (byte j: element j low, element j + 16 high)
/// → 4 words of in-order 4-bit codes (element e at word e/8, bits 4·(e%8)).
pub fn pack_q4_block(qs: &[u8], words: &mut [u32]) {
    for (w, word) in words.iter_mut().enumerate().take(4) {
        let (half, shift) = (w % 2, if w < 2 { 0 } else { 4 });
        *word = (0..8).fold(0u32, |acc, j| acc | ((((qs[8 * half + j] >> shift) & 0xF) as u32) << (4 * j)));
    }
}

/// 32 signed bytes q → 8 words of 8-bit codes q + 128 (element e at word e/4, bits 8·(e%4)).
pub fn pack_q8_block(qs: &[u8], words: &mut [u32]) {
    for (word, q) in words.iter_mut().zip(qs.chunks_exact(4)) {
        // q + 128 for a two's-complement byte is q with its top bit flipped.
        *word = u32::from_le_bytes([q[0], q[1], q[2], q[3]]) ^ 0x8080_8080;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_nibble_order_low_then_high() {
        // byte j = (element j+16) << 4 | element j, with element e = e % 16.
        let qs: Vec<u8> = (0..16u8).map(|j| (j << 4) | j).collect();
        let mut w = [0u32; 4];
        pack_q4_block(&qs, &mut w);
        assert_eq!(w, [0x7654_3210, 0xfedc_ba98, 0x7654_3210, 0xfedc_ba98]);
        let qs: Vec<u8> = (0..16u8).map(|j| 0xF0 | (j & 1)).collect(); // lows 0,1,0,1..; highs 15
        pack_q4_block(&qs, &mut w);
        assert_eq!(w, [0x1010_1010, 0x1010_1010, 0xffff_ffff, 0xffff_ffff]);
    }

    #[test]
    fn q8_codes_are_q_plus_128() {
        let qs: Vec<u8> = [-128i8, -1, 0, 127].iter().cycle().take(32).map(|&q| q as u8).collect();
        let mut w = [0u32; 8];
        pack_q8_block(&qs, &mut w);
        assert!(w.iter().all(|&x| x == 0xff80_7f00), "{w:x?}");
    }
}
