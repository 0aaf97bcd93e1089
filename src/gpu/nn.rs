//! Dispatch of the model-level kernels: embedding lookup (`shaders/embedding.wgsl`),
//! encoder attention (`shaders/attention.wgsl`) and placing a column block of
//! a split linear layer's output (`shaders/copy.wgsl`).

use super::kernels::{attention as bind_attn, copy, embedding, uniform, Entry, Kernel};
use super::ops::{contiguous_f32, grid, to_u32, view_params, WG_1D};
use super::{Gpu, GpuView};
use crate::error::{Error, Result};
use crate::kinds::DType;
use std::rc::Rc;

/// Workgroup size of the attention kernel (query rows per workgroup).
const ATTN_WG: u32 = 64;
/// Largest head size the attention kernel holds in registers (`4 * MAX_D4`).
pub(crate) const ATTN_MAX_HEAD: usize = 128;

uniform! {
    /// embedding.wgsl: out's elements and columns, the block's rows, the group size.
    GatherParams { n: u32, cols: u32, begin: u32, rows: u32, group: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
}

uniform! {
    /// attention.wgsl: sizes, row strides and offsets in vec4s.
    AttentionParams { t: u32, d4: u32, ld: u32, out_ld: u32, q_off: u32, k_off: u32, v_off: u32, scale: f32 }
}

/// One block of an embedding table: rows `[begin, begin + rows)`.
pub(crate) enum TableBlock<'a> {
    Float { table: &'a GpuView, dtype: DType },
    Quant { packed: &'a GpuView, scales: &'a GpuView, biases: &'a GpuView, bits: u32, group: usize },
}

/// Gathers rows of a table held in blocks into `out [T, C]` (one dispatch per block).
pub(crate) fn gather(gpu: &Rc<Gpu>, ids: &[u32], cols: usize, blocks: &[(usize, usize, TableBlock)]) -> Result<GpuView> {
    let n = ids.len() * cols;
    let out = gpu.alloc(n, DType::F32)?;
    if n == 0 {
        return Ok(out);
    }
    let ids_buf = gpu.upload(bytemuck::cast_slice(ids), DType::F32, ids.len())?;
    let groups = grid(gpu, n.div_ceil(WG_1D as usize))?;
    for (begin, rows, block) in blocks {
        let mut params = GatherParams {
            n: to_u32("elements", n)?,
            cols: to_u32("cols", cols)?,
            begin: to_u32("row", *begin)?,
            rows: to_u32("rows", *rows)?,
            ..Default::default()
        };
        match block {
            TableBlock::Float { table, dtype } => {
                let k = Kernel::new(Entry::Gather).with("WG", WG_1D).f16(*dtype == DType::F16);
                gpu.dispatch(&k, &params, &[(embedding::TABLE, table), (embedding::IDS, &ids_buf), (embedding::OUT, &out)], groups)?;
            }
            TableBlock::Quant { packed, scales, biases, bits, group } => {
                params.group = to_u32("group", *group)?;
                let k = Kernel::new(Entry::GatherQ).with("WG", WG_1D).with("BITS", *bits);
                let bufs = [
                    (embedding::IDS, &ids_buf),
                    (embedding::OUT, &out),
                    (embedding::PACKED, *packed),
                    (embedding::SCALES, *scales),
                    (embedding::BIASES, *biases),
                ];
                gpu.dispatch(&k, &params, &bufs, groups)?;
            }
        }
    }
    Ok(out)
}

pub(crate) use super::qops::dequantize;

/// Where one of q, k, v sits in its buffer: rows of `ld` floats, head 0 at `off`.
pub(crate) struct Rows<'a> {
    pub view: &'a GpuView,
    pub ld: usize,
    pub off: usize,
}

/// Encoder attention for `b` texts padded to `t` tokens (`lens`: `[B]` u32
/// token counts); out `[B, T, H*D]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(q: Rows, k: Rows, v: Rows, lens: &GpuView, b: usize, t: usize, heads: usize, head_dim: usize, scale: f32) -> Result<GpuView> {
    let gpu = q.view.gpu();
    if !head_dim.is_multiple_of(4) || head_dim > ATTN_MAX_HEAD {
        return Err(Error::InvalidArgument(format!("attention: head size {head_dim} must be a multiple of 4 and at most {ATTN_MAX_HEAD}")));
    }
    for r in [&q, &k, &v] {
        if r.ld % 4 != 0 || (r.off + r.view.offset) % 4 != 0 {
            return Err(Error::InvalidArgument("attention: q, k and v rows must be 4-aligned".into()));
        }
    }
    if q.ld != k.ld || q.ld != v.ld {
        return Err(Error::InvalidArgument("attention: q, k and v must share a row stride".into()));
    }
    let width = heads * head_dim;
    let out = gpu.alloc(b * t * width, DType::F32)?;
    if b * t * width == 0 {
        return Ok(out);
    }
    let v4 = |x: usize, what: &str| to_u32(what, x / 4);
    let params = AttentionParams {
        t: to_u32("T", t)?,
        d4: v4(head_dim, "D")?,
        ld: v4(q.ld, "ld")?,
        out_ld: v4(width, "width")?,
        q_off: v4(q.off + q.view.offset, "offset")?,
        k_off: v4(k.off + k.view.offset, "offset")?,
        v_off: v4(v.off + v.view.offset, "offset")?,
        scale,
    };
    let kernel = Kernel::new(Entry::Encoder).with("WG", ATTN_WG);
    let bufs = [(bind_attn::Q, q.view), (bind_attn::K, k.view), (bind_attn::V, v.view), (bind_attn::LENS, lens), (bind_attn::OUT, &out)];
    gpu.dispatch(&kernel, &params, &bufs, [to_u32("T", t)?.div_ceil(ATTN_WG), to_u32("heads", heads)?, to_u32("batch", b)?])?;
    Ok(out)
}

/// Writes `y [R, C]` into columns `[col, col + C)` of `out [R, W]`.
/// `shape` is y's own shape (any rank), `y_shape` the same elements as rows × columns.
pub(crate) fn place_cols(y: &GpuView, shape: &[usize], y_shape: [usize; 2], out: &GpuView, width: usize, col: usize) -> Result<()> {
    let gpu = y.gpu();
    let y = contiguous_f32(y, shape, DType::F32)?;
    let n = y_shape[0] * y_shape[1];
    // out seen as the strided view [R, C] at column `col` of rows of `width`.
    let params = view_params(n, col, &y_shape, &[width, 1])?;
    let kernel = Kernel::new(Entry::Place).with("WG", WG_1D);
    gpu.dispatch(&kernel, &params, &[(copy::SRC, &y), (copy::DST, out)], grid(&gpu, n.div_ceil(WG_1D as usize))?)
}
