//! An embedding table `[rows, cols]`, float or affine-quantized, possibly in
//! row blocks (one GPU buffer each): rows gathered by token id.

use super::linear::quantized_blocks;
use super::params::{widen_tensor, Params};
use super::Quantization;
use crate::error::{Error, Result};
use crate::quant::qtensor::{QStorage, QTensor};
use crate::tensor::{DType, Device, Storage, Tensor};

/// An embedding table `[rows, cols]`: float or quantized, possibly in row blocks.
pub struct Embedding {
    pub rows: usize,
    pub cols: usize,
    table: Table,
}

enum Table {
    Float(Vec<(usize, Tensor)>),
    Quant(Vec<(usize, QTensor)>),
}

impl Embedding {
    pub fn load(p: &Params, name_prefix: &str, rows: usize, cols: usize, quant: Option<Quantization>, why: &str) -> Result<Embedding> {
        let quantized = quant.is_some() && p.contains(&format!("{name_prefix}.scales"));
        let table = match quant {
            Some(q) if quantized => Table::Quant(quantized_blocks(p, name_prefix, rows, cols, q, why)?),
            _ => {
                let (block_rows, blocks) = p.float_blocks(&format!("{name_prefix}.weight"), &[rows, cols], why)?;
                let mut out = Vec::with_capacity(blocks.len());
                for (i, b) in blocks.into_iter().enumerate() {
                    let b = if matches!(b.storage, Storage::Cpu(_)) { widen_tensor(&b)? } else { b };
                    out.push((i * block_rows, b));
                }
                Table::Float(out)
            }
        };
        Ok(Embedding { rows, cols, table })
    }

    /// Rows `ids` of the table: `[ids.len(), cols]`, f32.
    pub fn forward(&self, device: &Device, ids: &[u32]) -> Result<Tensor> {
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.rows) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the embedding table's {} rows: the tokenizer does not match the model",
                self.rows
            )));
        }
        match device {
            Device::Cpu => self.forward_cpu(ids),
            Device::Gpu(g) => {
                use crate::gpu::nn::TableBlock;
                let mut blocks = Vec::new();
                match &self.table {
                    Table::Float(bs) => {
                        for (begin, t) in bs {
                            let Storage::Gpu(v) = &t.storage else { return Err(Error::DeviceMismatch { op: "embedding", lhs: "webgpu", rhs: "cpu" }) };
                            blocks.push((*begin, t.shape[0], TableBlock::Float { table: v, dtype: t.dtype }));
                        }
                    }
                    Table::Quant(bs) => {
                        for (begin, q) in bs {
                            let QStorage::Gpu { packed, scales, biases } = &q.storage else {
                                return Err(Error::DeviceMismatch { op: "embedding", lhs: "webgpu", rhs: "cpu" });
                            };
                            blocks.push((*begin, q.rows, TableBlock::Quant { packed, scales, biases, bits: q.bits, group: q.group }));
                        }
                    }
                }
                crate::gpu::nn::gather(g, ids, self.cols, &blocks)
            }
        }
    }

    fn forward_cpu(&self, ids: &[u32]) -> Result<Tensor> {
        let mut out = vec![0f32; ids.len() * self.cols];
        match &self.table {
            Table::Float(bs) => {
                let Some((_, Tensor { storage: Storage::Cpu(t), .. })) = bs.first() else {
                    return Err(Error::DeviceMismatch { op: "embedding", lhs: "cpu", rhs: "webgpu" });
                };
                let idx = candle_core::Tensor::from_slice(ids, ids.len(), &candle_core::Device::Cpu)?;
                let rows = t.index_select(&idx, 0)?;
                return Ok(Tensor { shape: vec![ids.len(), self.cols], dtype: DType::F32, storage: Storage::Cpu(rows) });
            }
            Table::Quant(bs) => {
                for (row, &id) in out.chunks_mut(self.cols.max(1)).zip(ids) {
                    let (begin, q) = bs.iter().rev().find(|(b, _)| *b <= id as usize).expect("block 0 starts at row 0");
                    let QStorage::Cpu(m) = &q.storage else {
                        return Err(Error::DeviceMismatch { op: "embedding", lhs: "cpu", rhs: "webgpu" });
                    };
                    m.dequantize_row(id as usize - begin, row);
                }
            }
        }
        Tensor::from_f32(&Device::Cpu, &out, &[ids.len(), self.cols])
    }
}
