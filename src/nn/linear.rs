//! A linear layer `y = x · Wᵀ + b`: float (f32, or f16 on a GPU with
//! `shader-f16`) or affine-quantized weights behind one type, LoRA deltas on top.

use std::rc::Rc;

use super::params::{widen_tensor, Params, Words};
use super::Quantization;
use crate::error::{Error, Result};
use crate::ops::quant::{QStorage, QTensor};
use crate::ops::tensor::{Storage, Tensor};
use crate::quant::QuantizedMatrix;

/// A linear layer `y = x · Wᵀ + b` with `W [out, in]`, possibly split into
/// blocks of output rows (each one buffer on the GPU).
pub struct Linear {
    parts: std::cell::RefCell<Vec<Weight>>,
    /// The base's own blocks while a merged adapter replaces them.
    unmerged: std::cell::RefCell<Option<Vec<Weight>>>,
    bias: Option<Tensor>,
    pub out_features: usize,
    pub in_features: usize,
    /// A loaded LoRA adapter, `(A [r, in], B [out, r], scale)`, added to every forward.
    delta: std::cell::RefCell<Option<(Tensor, Tensor, f32)>>,
}

#[derive(Clone)]
enum Weight {
    /// `Wᵀ` as a `[in, rows]` view of a `[rows, in]` block.
    Float(Tensor),
    Quant(QTensor),
}

/// The quantized matrix `{prefix}.weight/.scales/.biases` of `[rows, cols]`, in row blocks.
pub(super) fn quantized_blocks(p: &Params, prefix: &str, rows: usize, cols: usize, q: Quantization, why: &str) -> Result<Vec<(usize, QTensor)>> {
    let wname = format!("{prefix}.weight");
    let words_per_row = cols * q.bits as usize / 32;
    let groups = cols / q.group;
    if !cols.is_multiple_of(q.group) {
        return Err(crate::error::bad(
            "config.json",
            Some(&wname),
            format!("in features divisible by the group size {}", q.group),
            format!("{cols} in features"),
        ));
    }
    let why_q = format!("{why}, {} bits in groups of {}", q.bits, q.group);
    let (block_rows, blocks) = p.words(&wname, &[rows, words_per_row], &why_q)?;
    let gshape = [rows, groups];
    let mut out = Vec::with_capacity(blocks.len());
    for (i, words) in blocks.into_iter().enumerate() {
        let start = i * block_rows;
        let n = block_rows.min(rows - start);
        let scales = p.float_rows(&format!("{prefix}.scales"), &gshape, &why_q, start, n)?;
        let biases = p.float_rows(&format!("{prefix}.biases"), &gshape, &why_q, start, n)?;
        let storage = match (words, &scales.storage, &biases.storage) {
            (Words::Cpu(packed), Storage::Cpu(s), Storage::Cpu(b)) => {
                let m = QuantizedMatrix::from_parts(n, cols, q.bits, q.group, packed.to_vec(), s.flatten_all()?.to_vec1()?, b.flatten_all()?.to_vec1()?)?;
                QStorage::Cpu(Rc::new(m))
            }
            (Words::Gpu(packed), Storage::Gpu(s), Storage::Gpu(b)) => QStorage::Gpu { packed, scales: s.clone(), biases: b.clone() },
            _ => return Err(Error::InvalidArgument(format!("{prefix}: parts on different devices"))),
        };
        out.push((start, QTensor { rows: n, cols, bits: q.bits, group: q.group, storage }));
    }
    Ok(out)
}

impl Linear {
    /// `{prefix}.weight` `[out, in]` (float, or packed codes with `.scales`
    /// and `.biases` when `quant` is set and the file holds U32 codes) and,
    /// when `bias`, `{prefix}.bias` `[out]`. `why` names the config fields
    /// that imply the shape, for the error when the file disagrees.
    pub fn load(p: &Params, prefix: &str, out: usize, inp: usize, bias: bool, quant: Option<Quantization>, why: &str) -> Result<Linear> {
        let wname = format!("{prefix}.weight");
        let quantized = quant.is_some() && p.contains(&format!("{prefix}.scales"));
        let parts = match quant {
            Some(q) if quantized => quantized_blocks(p, prefix, out, inp, q, why)?.into_iter().map(|(_, t)| Weight::Quant(t)).collect(),
            _ => {
                let (_, blocks) = p.float_blocks(&wname, &[out, inp], why)?;
                let mut parts = Vec::with_capacity(blocks.len());
                for b in blocks {
                    // CPU matmuls want f32; the GPU reads f16 weights directly.
                    let b = if matches!(b.storage, Storage::Cpu(_)) { widen_tensor(&b)? } else { b };
                    parts.push(Weight::Float(b.transpose()?));
                }
                parts
            }
        };
        let bias = if bias { Some(p.float(&format!("{prefix}.bias"), &[out], why)?) } else { None };
        Ok(Linear { parts: parts.into(), unmerged: Default::default(), bias, out_features: out, in_features: inp, delta: Default::default() })
    }

    /// GPT-2's `Conv1D`: `{prefix}.weight` stored `[in, out]` (the
    /// transpose of a linear layer's) and `{prefix}.bias` `[out]`. Float only
    /// (these weights are never quantized: see `weights::convert::quantizable`).
    pub fn load_conv1d(p: &Params, prefix: &str, inp: usize, out: usize, why: &str) -> Result<Linear> {
        let (_, blocks) = p.float_blocks(&format!("{prefix}.weight"), &[inp, out], why)?;
        let mut parts = Vec::with_capacity(blocks.len());
        for b in blocks {
            parts.push(Weight::Float(if matches!(b.storage, Storage::Cpu(_)) { widen_tensor(&b)? } else { b }));
        }
        if parts.len() > 1 {
            // Row blocks of [in, out] split the inputs, not the outputs.
            return Err(Error::InvalidArgument(format!("{prefix}.weight: a Conv1D weight larger than one GPU buffer is not supported")));
        }
        let bias = Some(p.float(&format!("{prefix}.bias"), &[out], why)?);
        Ok(Linear { parts: parts.into(), unmerged: Default::default(), bias, out_features: out, in_features: inp, delta: Default::default() })
    }

    /// `x [.., in] -> [.., out]`, with the loaded adapter's `s · (x · Aᵀ) · Bᵀ` if any.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.forward_base(x)?;
        match &*self.delta.borrow() {
            Some((a, b, s)) => y.add(&x.matmul(&a.transpose()?)?.matmul(&b.transpose()?)?.scale(*s)?),
            None => Ok(y),
        }
    }

    /// Folds the loaded adapter into the weights (`W + s · B · A`), so a
    /// forward costs what the base's does. Only f32 weights merge (quantized
    /// or f16 ones keep the adapter beside them); returns whether it merged.
    /// `set_delta` restores the base's own weights first.
    pub fn merge_delta(&self) -> Result<bool> {
        let Some((a, b, s)) = self.delta.borrow().clone() else { return Ok(false) };
        let parts = self.parts.borrow().clone();
        if !parts.iter().all(|p| matches!(p, Weight::Float(wt) if wt.dtype() == crate::kinds::DType::F32)) {
            return Ok(false);
        }
        let mut merged = Vec::with_capacity(parts.len());
        let mut start = 0;
        for part in &parts {
            let Weight::Float(wt) = part else { unreachable!("checked above") };
            let n = wt.shape()[1];
            // Wᵀ [in, n] + s · Aᵀ · B_blockᵀ
            let b_block = b.transpose()?.narrow_last(start, n)?;
            merged.push(Weight::Float(wt.add(&a.transpose()?.matmul(&b_block)?.scale(s)?)?));
            start += n;
        }
        *self.unmerged.borrow_mut() = Some(parts);
        *self.parts.borrow_mut() = merged;
        *self.delta.borrow_mut() = None;
        Ok(true)
    }

    /// Loads (or with `None`, removes) a LoRA adapter `A [r, in]`, `B [out, r]` at `scale`.
    pub fn set_delta(&self, delta: Option<(Tensor, Tensor, f32)>) -> Result<()> {
        if let Some(base) = self.unmerged.borrow_mut().take() {
            *self.parts.borrow_mut() = base;
        }
        if let Some((a, b, _)) = &delta {
            let r = a.shape()[0];
            if a.shape() != [r, self.in_features] || b.shape() != [self.out_features, r] {
                return Err(Error::InvalidArgument(format!(
                    "adapter: lora_A {:?} and lora_B {:?} do not fit a layer of {} inputs and {} outputs (an adapter for another model?)",
                    a.shape(),
                    b.shape(),
                    self.in_features,
                    self.out_features
                )));
            }
        }
        *self.delta.borrow_mut() = delta;
        Ok(())
    }

    /// `x [.., in] -> [.., out]` through the frozen weights alone (training adds its own adapter).
    pub fn forward_base(&self, x: &Tensor) -> Result<Tensor> {
        let parts = self.parts.borrow();
        let mut ys = Vec::with_capacity(parts.len());
        for part in parts.iter() {
            ys.push(match part {
                Weight::Float(wt) => x.matmul(wt)?,
                Weight::Quant(q) => x.matmul_qt(q)?,
            });
        }
        let y = Tensor::cat_cols(&ys)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

impl Linear {
    /// The gradient of the input, `dy [.., out] -> dy · W [.., in]`, for
    /// backpropagating through this frozen layer. Quantized blocks are
    /// dequantized into a temporary f32 block for the product.
    pub fn input_grad(&self, dy: &Tensor) -> Result<Tensor> {
        let lead = &dy.shape()[..dy.shape().len().saturating_sub(1)];
        let rows: usize = lead.iter().product();
        let dy2 = dy.reshape(&[rows, self.out_features])?;
        let mut dx: Option<Tensor> = None;
        let mut start = 0;
        let parts = self.parts.borrow();
        for part in parts.iter() {
            // W [rows, in] of this block: the float weight is stored as a Wᵀ view.
            let (w, n) = match part {
                Weight::Float(wt) => (wt.transpose()?, wt.shape()[1]),
                Weight::Quant(q) => (q.dequantize()?, q.rows),
            };
            let d = if parts.len() == 1 { dy2.clone() } else { dy2.narrow_last(start, n)? };
            let g = d.matmul(&w)?;
            dx = Some(match dx {
                Some(acc) => acc.add(&g)?,
                None => g,
            });
            start += n;
        }
        let mut shape = lead.to_vec();
        shape.push(self.in_features);
        dx.expect("a linear layer has at least one block").reshape(&shape)
    }
}
