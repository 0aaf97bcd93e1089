//! Dispatch of the model-level kernels: embedding lookup (`shaders/embedding.wgsl`),
//! encoder attention (`shaders/attention.wgsl`) and placing a column block of
//! a split linear layer's output.

use super::kernels::{Kernel, Shader};
use super::ops::{contiguous_f32, grid, to_u32, WG_1D};
use super::{Gpu, GpuView};
use crate::error::{Error, Result};
use crate::kinds::DType;
use std::rc::Rc;

/// Workgroup size of the attention kernel (query rows per workgroup).
const ATTN_WG: u32 = 64;
/// Largest head size the attention kernel holds in registers (`4 * MAX_D4`).
pub(crate) const ATTN_MAX_HEAD: usize = 128;

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
        let mut params = [to_u32("elements", n)?, to_u32("cols", cols)?, to_u32("row", *begin)?, to_u32("rows", *rows)?, 0, 0, 0, 0];
        match block {
            TableBlock::Float { table, dtype } => {
                let k = Kernel::new(Shader::Embedding, "gather").with("WG", WG_1D).f16(*dtype == DType::F16);
                gpu.dispatch(&k, &params, &[(1, table.buffer()), (2, ids_buf.buffer()), (3, out.buffer())], groups)?;
            }
            TableBlock::Quant { packed, scales, biases, bits, group } => {
                params[4] = to_u32("group", *group)?;
                let k = Kernel::new(Shader::Embedding, "gather_q").with("WG", WG_1D).with("BITS", *bits);
                let bufs = [(2, ids_buf.buffer()), (3, out.buffer()), (4, packed.buffer()), (5, scales.buffer()), (6, biases.buffer())];
                gpu.dispatch(&k, &params, &bufs, groups)?;
            }
        }
    }
    Ok(out)
}

/// A quantized `[rows, cols]` matrix expanded to f32, contiguous.
pub(crate) fn dequantize(
    gpu: &Rc<Gpu>,
    packed: &GpuView,
    scales: &GpuView,
    biases: &GpuView,
    bits: u32,
    group: usize,
    rows: usize,
    cols: usize,
) -> Result<GpuView> {
    let n = rows * cols;
    let out = gpu.alloc(n, DType::F32)?;
    let params = [to_u32("elements", n)?, to_u32("cols", cols)?, 0, to_u32("rows", rows)?, to_u32("group", group)?, 0, 0, 0];
    let k = Kernel::new(Shader::Embedding, "dequant").with("WG", WG_1D).with("BITS", bits);
    let bufs = [(3, out.buffer()), (4, packed.buffer()), (5, scales.buffer()), (6, biases.buffer())];
    gpu.dispatch(&k, &params, &bufs, grid(gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

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
    if head_dim % 4 != 0 || head_dim > ATTN_MAX_HEAD {
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
    let params = [
        to_u32("T", t)?,
        v4(head_dim, "D")?,
        v4(q.ld, "ld")?,
        v4(width, "width")?,
        v4(q.off + q.view.offset, "offset")?,
        v4(k.off + k.view.offset, "offset")?,
        v4(v.off + v.view.offset, "offset")?,
        scale.to_bits(),
    ];
    let kernel = Kernel::new(Shader::Attention, "encoder").with("WG", ATTN_WG);
    let bufs = [(1, q.view.buffer()), (2, k.view.buffer()), (3, v.view.buffer()), (4, lens.buffer()), (5, out.buffer())];
    gpu.dispatch(&kernel, &params, &bufs, [to_u32("T", t)?.div_ceil(ATTN_WG), to_u32("heads", heads)?, to_u32("batch", b)?])?;
    Ok(out)
}

/// Writes `y [R, C]` into columns `[col, col + C)` of `out [R, W]`.
/// `shape` is y's own shape (any rank), `y_shape` the same elements as rows × columns.
pub(crate) fn place_cols(y: &GpuView, shape: &[usize], y_shape: [usize; 2], out: &GpuView, width: usize, col: usize) -> Result<()> {
    let gpu = y.gpu();
    let y = contiguous_f32(y, shape, DType::F32)?;
    let n = y_shape[0] * y_shape[1];
    let params = [to_u32("elements", n)?, to_u32("width", width)?, to_u32("column", col)?, to_u32("cols", y_shape[1])?];
    let kernel = Kernel::new(Shader::Elementwise, "place_cols").with("WG", WG_1D);
    gpu.dispatch(&kernel, &params, &[(2, y.buffer()), (3, out.buffer())], grid(&gpu, n.div_ceil(WG_1D as usize))?)
}
