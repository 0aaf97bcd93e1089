//! Dispatch of the quantized family (`shaders/qmatmul.wgsl`): the fused
//! dequantizing matmuls, and dequantization of a whole weight.

use std::rc::Rc;

use super::kernels::{qmatmul, uniform, Entry, Kernel};
use super::ops::{contiguous_f32, grid, to_u32, WG_1D};
use super::{Gpu, GpuView};
use crate::error::{Error, Result};
use crate::kinds::{DType, GemmKernel};

/// qgemv: `override WG_X` (K split) and `WG_Y` (outputs per workgroup).
const QGEMV_WG: (u32, u32) = (16, 8);
/// qgemm: invocations along N and R, each computing a 4 x 4 block.
const QGEMM_WG: (u32, u32) = (8, 8);

/// From this many rows of x on, a dequantizing gather and the f32 GEMM;
/// below it the fused `qgemv`/`qgemm` kernels read the codes directly (no
/// temporary [N, K]). MiniLM 8-bit batch on SwiftShader: 25.5 s fused, 16.2 s
/// this way.
pub(crate) const GPU_DEQUANT_ROWS: usize = 16;

uniform! {
    /// qmatmul.wgsl: R rows of x (unused by `dequant`), N outputs, K inputs, group size.
    QMatmulParams { rows: u32, n: u32, k: u32, group: u32 }
}

/// A quantized `[rows, cols]` matrix expanded to f32, contiguous.
#[allow(clippy::too_many_arguments)]
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
    to_u32("elements", n)?;
    let params = QMatmulParams { rows: 0, n: to_u32("rows", rows)?, k: to_u32("cols", cols)?, group: to_u32("group", group)? };
    let k = Kernel::new(Entry::Dequant).with("WG", WG_1D).with("BITS", bits);
    let bufs = [(qmatmul::C, &out), (qmatmul::W, packed), (qmatmul::SCALES, scales), (qmatmul::BIASES, biases)];
    gpu.dispatch(&k, &params, &bufs, grid(gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

/// A quantized weight's layout: `[rows, cols]` = `[N, K]`, `bits` per code,
/// one scale and bias per `group` codes of a row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QLayout {
    pub rows: usize,
    pub cols: usize,
    pub bits: u32,
    pub group: usize,
}

/// `x [.., R, K] · Wᵀ -> [R, N]` (contiguous), shapes already checked; `rows` = R (batch dims flattened).
pub(crate) fn matmul_qt(x: &GpuView, x_shape: &[usize], rows: usize, w: QLayout, [packed, scales, biases]: [&GpuView; 3]) -> Result<GpuView> {
    let gpu = x.gpu();
    let x = contiguous_f32(x, x_shape, DType::F32)?;
    if rows == 0 || w.rows == 0 {
        return gpu.alloc(rows * w.rows, DType::F32);
    }
    if !w.cols.is_multiple_of(4) {
        return Err(Error::InvalidArgument(format!("matmul_qt: in features {} must be a multiple of 4", w.cols)));
    }
    if rows >= GPU_DEQUANT_ROWS {
        // Dequantize W into a temporary [N, K], then the f32 GEMM against its transposed view.
        let dense = dequantize(&gpu, packed, scales, biases, w.bits, w.group, w.rows, w.cols)?;
        let wt = dense.transposed(&[w.rows, w.cols]);
        return super::ops::matmul(&x, &[rows, w.cols], &wt, &[w.cols, w.rows], DType::F32, vec![rows, w.rows], GemmKernel::Auto);
    }
    let c = gpu.alloc(rows * w.rows, DType::F32)?;
    let params = QMatmulParams { rows: to_u32("rows", rows)?, n: to_u32("N", w.rows)?, k: to_u32("K", w.cols)?, group: to_u32("group", w.group)? };
    let bufs = [(qmatmul::X, &x), (qmatmul::W, packed), (qmatmul::SCALES, scales), (qmatmul::BIASES, biases), (qmatmul::C, &c)];
    let (spec, groups) = if rows == 1 {
        let (wx, wy) = QGEMV_WG;
        let k = Kernel::new(Entry::Qgemv).with("BITS", w.bits).with("WG_X", wx).with("WG_Y", wy);
        (k, [to_u32("N", w.rows)?.div_ceil(wy), 1, 1])
    } else {
        let (wx, wy) = QGEMM_WG;
        let k = Kernel::new(Entry::Qgemm).with("BITS", w.bits).with("WG_X", wx).with("WG_Y", wy);
        (k, [to_u32("N", w.rows)?.div_ceil(4 * wx), to_u32("rows", rows)?.div_ceil(4 * wy), 1])
    };
    gpu.dispatch(&spec, &params, &bufs, groups)?;
    Ok(c)
}
