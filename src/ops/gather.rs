//! Embedding lookup: rows `ids` of a `[rows, cols]` table held in row blocks
//! (a table past the binding limit is split), float or quantized. On the CPU
//! candle's `index_select` or a row dequantization; on the GPU
//! `shaders/embedding.wgsl`, one dispatch per block.

use crate::error::{Error, Result};
use crate::gpu::nn::TableBlock;
use crate::kinds::DType;
use crate::ops::quant::{QStorage, QTensor};
use crate::ops::tensor::{Device, Storage, Tensor};

/// A table's row blocks, each with the index of its first row (block 0 at 0).
pub enum Table {
    /// f32 on the CPU; f32 or f16 on the GPU.
    Float(Vec<(usize, Tensor)>),
    Quant(Vec<(usize, QTensor)>),
}

/// Rows `ids` of `table` (`rows` × `cols` in all): `[ids.len(), cols]`, f32.
pub fn gather(device: &Device, table: &Table, rows: usize, cols: usize, ids: &[u32]) -> Result<Tensor> {
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
        return Err(Error::InvalidArgument(format!("token id {bad} is outside the embedding table's {rows} rows: the tokenizer does not match the model")));
    }
    let mismatch = |lhs| Error::DeviceMismatch { op: "embedding", lhs, rhs: if lhs == "cpu" { "webgpu" } else { "cpu" } };
    match device {
        Device::Cpu => gather_cpu(table, cols, ids),
        Device::Gpu(g) => {
            let mut blocks = Vec::new();
            match table {
                Table::Float(bs) => {
                    for (begin, t) in bs {
                        let Storage::Gpu(v) = &t.storage else { return Err(mismatch("webgpu")) };
                        blocks.push((*begin, t.shape[0], TableBlock::Float { table: v, dtype: t.dtype }));
                    }
                }
                Table::Quant(bs) => {
                    for (begin, q) in bs {
                        let QStorage::Gpu { packed, scales, biases } = &q.storage else { return Err(mismatch("webgpu")) };
                        blocks.push((*begin, q.rows, TableBlock::Quant { packed, scales, biases, bits: q.bits, group: q.group }));
                    }
                }
            }
            Ok(Tensor::from_gpu(crate::gpu::nn::gather(g, ids, cols, &blocks)?, vec![ids.len(), cols]))
        }
    }
}

fn gather_cpu(table: &Table, cols: usize, ids: &[u32]) -> Result<Tensor> {
    let mismatch = Error::DeviceMismatch { op: "embedding", lhs: "cpu", rhs: "webgpu" };
    match table {
        Table::Float(bs) if bs.len() == 1 => {
            let Tensor { storage: Storage::Cpu(t), .. } = &bs[0].1 else { return Err(mismatch) };
            let idx = candle_core::Tensor::from_slice(ids, ids.len(), &candle_core::Device::Cpu)?;
            let rows = t.to_dtype(candle_core::DType::F32)?.index_select(&idx, 0)?;
            Ok(Tensor { shape: vec![ids.len(), cols], dtype: DType::F32, storage: Storage::Cpu(rows) })
        }
        Table::Float(bs) => {
            // Several blocks (made for a device with a binding limit): row by row.
            let values = bs.iter().map(|(_, t)| t.cpu_f32()).collect::<Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(ids.len() * cols);
            for &id in ids {
                let b = bs.iter().rposition(|(begin, _)| *begin <= id as usize).expect("block 0 starts at row 0");
                out.extend_from_slice(&values[b][(id as usize - bs[b].0) * cols..][..cols]);
            }
            Tensor::from_f32(&Device::Cpu, &out, &[ids.len(), cols])
        }
        Table::Quant(bs) => {
            let mut out = vec![0f32; ids.len() * cols];
            for (row, &id) in out.chunks_mut(cols.max(1)).zip(ids) {
                let (begin, q) = bs.iter().rev().find(|(b, _)| *b <= id as usize).expect("block 0 starts at row 0");
                let QStorage::Cpu(m) = &q.storage else { return Err(mismatch) };
                m.dequantize_row(id as usize - begin, row);
            }
            Tensor::from_f32(&Device::Cpu, &out, &[ids.len(), cols])
        }
    }
}
