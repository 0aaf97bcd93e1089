//! Quantized safetensors in MLX's affine layout: for a linear layer at path
//! `P`, `P.weight` (U32 `[out, in*b/32]`), `P.scales` and `P.biases`
//! (F32/F16/BF16 `[out, in/g]`). Reading checks every shape against `b`, `g`.

use super::safetensors::{Dtype, SafeTensors};
use super::safetensors_write::{bf16_bytes, f16_bytes, f32_bytes, u32_bytes};
use crate::error::bad;
use crate::error::Result;
use crate::quant::{QuantizedMatrix, ScaleDType};

/// Reads `{prefix}.weight`, `{prefix}.scales`, `{prefix}.biases` as a quantized
/// matrix with `bits` and `group` (from `config.json`'s `"quantization"`).
pub fn read_affine(st: &SafeTensors, prefix: &str, bits: u32, group: usize) -> Result<QuantizedMatrix> {
    let file = &st.header.file;
    let (wn, sn, bn) = (format!("{prefix}.weight"), format!("{prefix}.scales"), format!("{prefix}.biases"));
    let w = st.tensor(&wn)?;
    let s = st.tensor(&sn)?;
    let b = st.tensor(&bn)?;
    let &[rows, words] = w.shape else {
        return Err(bad(file, Some(&wn), "a 2-d U32 packed weight [out, in*bits/32]", format!("shape {:?}", w.shape)));
    };
    let fits = |e: crate::Error| bad(file, Some(&wn), format!("a weight that {bits}-bit, group-{group} quantization fits"), e.to_string());
    crate::quant::affine::check_params(1, group, bits, group).map_err(fits)?; // bits and group alone
    let cols = words.checked_mul(32 / bits as usize).unwrap_or(0); // 0 fails the next check
    crate::quant::affine::check_params(rows, cols, bits, group).map_err(fits)?;
    let want = [rows, cols / group];
    for v in [&s, &b] {
        if v.shape != want {
            return Err(bad(file, Some(v.name), format!("shape {want:?} for {} [{rows}, {cols}] in groups of {group}", wn), format!("shape {:?}", v.shape)));
        }
    }
    QuantizedMatrix::from_parts(rows, cols, bits, group, w.to_u32()?, s.to_f32()?, b.to_f32()?)
}

/// The three tensors that hold `m` under `prefix`, scales and biases stored as `t`
/// (rounded to nearest: check [`QuantizedMatrix::scales_fit`] first for exactness).
pub fn affine_tensors(prefix: &str, m: &QuantizedMatrix, t: ScaleDType) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    type Encode = fn(&[f32]) -> Vec<u8>;
    let (dtype, enc): (Dtype, Encode) = match t {
        ScaleDType::F32 => (Dtype::F32, f32_bytes),
        ScaleDType::F16 => (Dtype::F16, f16_bytes),
        ScaleDType::BF16 => (Dtype::BF16, bf16_bytes),
    };
    let gshape = vec![m.rows, m.groups_per_row()];
    vec![
        (format!("{prefix}.weight"), Dtype::U32, vec![m.rows, m.words_per_row()], u32_bytes(&m.packed)),
        (format!("{prefix}.scales"), dtype, gshape.clone(), enc(&m.scales)),
        (format!("{prefix}.biases"), dtype, gshape, enc(&m.biases)),
    ]
}
