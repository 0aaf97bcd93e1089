//! An embedding table `[rows, cols]`, float or affine-quantized, possibly in
//! row blocks (one GPU buffer each): rows gathered by token id.

use super::linear::quantized_blocks;
use super::params::{widen_tensor, Params};
use super::Quantization;
use crate::error::Result;
use crate::ops::gather::Table;
use crate::ops::tensor::{Device, Storage, Tensor};

/// An embedding table `[rows, cols]`: float or quantized, possibly in row blocks.
pub struct Embedding {
    pub rows: usize,
    pub cols: usize,
    table: Table,
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
        crate::ops::gather::gather(device, &self.table, self.rows, self.cols, ids)
    }
}
