//! The op set on the GPU: shapes and strides become kernel parameters and
//! dispatches. Every function records work into the shared encoder; nothing
//! here waits for the GPU.

use std::rc::Rc;

use super::kernels::{copy, elementwise, gemm, gemm_vec4, gemv, norm, softmax, uniform, Entry, Kernel};
use super::{contiguous_strides, Gpu, GpuView};
use crate::error::{Error, Result};
use crate::kinds::numel;
use crate::kinds::DType;
use crate::kinds::{Binary, GemmKernel, Unary};

/// Workgroup size of the 1-D elementwise kernels (`override WG`).
pub(crate) const WG_1D: u32 = 256;
/// Workgroup size of the row kernels (softmax, norms); a power of two.
const WG_ROW: u32 = 64;
/// The tiled GEMM: `override WG_X, WG_Y`, and its `const TM, TN`.
const GEMM_WG: (u32, u32) = (8, 8);
const GEMM_TILE: (u32, u32) = (8, 8);
/// The GEMVs: `override WG_N, WG_K` (gemv.wgsl; WG_X, WG_Y in gemm_vec4.wgsl), and gemv.wgsl's `const TN`.
const GEMV_WG: (u32, u32) = (16, 16);
const GEMV_TN: u32 = 4;

uniform! {
    /// gemm.wgsl and gemv.wgsl: shapes, then each operand's offset and
    /// strides in elements (batch, row, column); C is contiguous.
    GemmParams {
        m: u32, n: u32, k: u32, batch: u32,
        a_off: u32, a_bs: u32, a_rs: u32, a_cs: u32,
        b_off: u32, b_bs: u32, b_rs: u32, b_cs: u32,
        c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32,
    }
}

uniform! {
    /// gemm_vec4.wgsl: as [`GemmParams`], offsets and strides of A and B in vec4s
    /// (their inner dims are contiguous), C's in elements.
    Vec4GemmParams {
        m: u32, n: u32, k: u32, batch: u32,
        a_off: u32, a_bs: u32, a_rs: u32, _a: u32,
        b_off: u32, b_bs: u32, b_rs: u32, _b: u32,
        c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32,
    }
}

uniform! {
    /// elementwise.wgsl: N, the right operand's R, and `scale`'s factor.
    ElementwiseParams { n: u32, rhs_n: u32, scalar: f32, _pad: u32 }
}

uniform! {
    /// copy.wgsl: a strided view of up to 8 dims (shape and strides in elements).
    CopyParams { n: u32, rank: u32, offset: u32, _pad: u32, shape: [[u32; 4]; 2], strides: [[u32; 4]; 2] }
}

uniform! {
    /// softmax.wgsl, softmax_backward.wgsl: rows and columns.
    SoftmaxParams { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }
}

uniform! {
    /// norm.wgsl, norm_backward.wgsl.
    NormParams { rows: u32, cols: u32, eps: f32, _pad: u32 }
}

/// A strided view's `offset`, `shape` and `strides` as copy.wgsl takes them.
pub(crate) fn view_params(n: usize, offset: usize, shape: &[usize], strides: &[usize]) -> Result<CopyParams> {
    if shape.len() > 8 {
        return Err(Error::InvalidArgument(format!("copy: at most 8 dims, got {shape:?}")));
    }
    let mut p = CopyParams { n: to_u32("elements", n)?, rank: shape.len() as u32, offset: to_u32("offset", offset)?, ..Default::default() };
    p.shape = [[1; 4]; 2];
    for (i, (&d, &s)) in shape.iter().zip(strides).enumerate() {
        p.shape[i / 4][i % 4] = to_u32("dim", d)?;
        p.strides[i / 4][i % 4] = to_u32("stride", s)?;
    }
    Ok(p)
}

pub(crate) fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::InvalidArgument(format!("{what} = {v} does not fit the kernels' 32-bit indices")))
}

/// A grid of `groups` workgroups laid out in 2-D when it passes the per-dimension limit.
pub(crate) fn grid(gpu: &Gpu, groups: usize) -> Result<[u32; 3]> {
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    let x = groups.min(max);
    let y = if x == 0 { 0 } else { groups.div_ceil(x) };
    Ok([to_u32("workgroups", x)?, to_u32("workgroups", y)?, 1])
}

/// A contiguous f32 copy of a view (the view itself when it already is one).
pub(crate) fn contiguous_f32(v: &GpuView, shape: &[usize], dtype: DType) -> Result<GpuView> {
    if dtype == DType::F32 && v.is_contiguous(shape) {
        return Ok(v.clone());
    }
    let gpu = v.gpu();
    let n = numel(shape);
    let params = view_params(n, v.offset, shape, &v.strides(shape))?;
    let out = gpu.alloc(n, DType::F32)?;
    let kernel = Kernel::new(Entry::Copy).with("WG", WG_1D).f16(dtype == DType::F16);
    gpu.dispatch(&kernel, &params, &[(copy::SRC, v), (copy::DST, &out)], grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

/// The batch dims of a view as one stride, or `None` when they do not collapse.
fn batch_stride(shape: &[usize], strides: &[usize]) -> Option<usize> {
    let nb = shape.len() - 2;
    if nb == 0 {
        return Some(0);
    }
    for i in 0..nb - 1 {
        if shape[i] > 1 && strides[i] != strides[i + 1] * shape[i + 1] {
            return None;
        }
    }
    Some(strides[nb - 1])
}

/// A view whose batch dims collapse to one stride, copying when needed.
fn batched(v: &GpuView, shape: &[usize], dtype: DType) -> Result<(GpuView, DType, [usize; 4])> {
    let strides = v.strides(shape);
    let r = shape.len();
    let (view, dtype, strides) = match batch_stride(shape, &strides) {
        Some(_) => (v.clone(), dtype, strides),
        None => (contiguous_f32(v, shape, dtype)?, DType::F32, contiguous_strides(shape)),
    };
    let bs = batch_stride(shape, &strides).unwrap_or(0);
    Ok((view.clone(), dtype, [view.offset, bs, strides[r - 2], strides[r - 1]]))
}

/// `[B.., M, K] x [B.., K, N] -> out`, shapes already checked.
pub(crate) fn matmul(a: &GpuView, a_shape: &[usize], b: &GpuView, b_shape: &[usize], b_dtype: DType, out: Vec<usize>, kernel: GemmKernel) -> Result<GpuView> {
    let gpu = a.gpu();
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let n = b_shape[b_shape.len() - 1];
    let batch = numel(&out[..out.len() - 2]);
    let c = gpu.alloc(numel(&out), DType::F32)?;
    if numel(&out) == 0 {
        return Ok(c);
    }
    let (av, _, [a_off, a_bs, a_rs, a_cs]) = batched(a, a_shape, DType::F32)?;
    let (bv, b_dtype, [b_off, b_bs, b_rs, b_cs]) = batched(b, b_shape, b_dtype)?;
    // Stride 0 for whichever side has no batch dims (it is shared).
    let a_bs = if a_shape.len() == 2 { 0 } else { a_bs };
    let b_bs = if b_shape.len() == 2 { 0 } else { b_bs };
    let u = |name: &str, v: usize| to_u32(name, v);
    let params = GemmParams {
        m: u("M", m)?,
        n: u("N", n)?,
        k: u("K", k)?,
        batch: u("batch", batch)?,
        a_off: u("offset", a_off)?,
        a_bs: u("stride", a_bs)?,
        a_rs: u("stride", a_rs)?,
        a_cs: u("stride", a_cs)?,
        b_off: u("offset", b_off)?,
        b_bs: u("stride", b_bs)?,
        b_rs: u("stride", b_rs)?,
        b_cs: u("stride", b_cs)?,
        c_off: 0,
        c_bs: u("M*N", m * n)?,
        ..Default::default()
    };
    let batch = u("batch", batch)?;
    let f16 = b_dtype == DType::F16;
    // vec4 kernels when A's rows and B's contiguous dim are 4-aligned.
    let aligned = |v: &[usize]| v.iter().all(|x| x % 4 == 0);
    let a4 = a_cs == 1 && k % 4 == 0 && aligned(&[a_off, a_bs, a_rs]);
    let layout = if !a4 || kernel != GemmKernel::Auto {
        None
    } else if b_cs == 1 && n.is_multiple_of(4) && aligned(&[b_off, b_bs, b_rs]) {
        Some((Entry::Nn, Entry::GemvNn, b_rs))
    } else if b_rs == 1 && aligned(&[b_off, b_bs, b_cs]) {
        Some((Entry::Nt, Entry::GemvNt, b_cs))
    } else {
        None
    };
    if let Some((mm_entry, gemv_entry, b_major)) = layout {
        let params4 = Vec4GemmParams {
            m: params.m,
            n: params.n,
            k: params.k,
            batch,
            a_off: u("offset", a_off / 4)?,
            a_bs: u("stride", a_bs / 4)?,
            a_rs: u("stride", a_rs / 4)?,
            b_off: u("offset", b_off / 4)?,
            b_bs: u("stride", b_bs / 4)?,
            b_rs: u("stride", b_major / 4)?,
            c_off: 0,
            c_bs: params.c_bs,
            ..Default::default()
        };
        let (wx, wy) = GEMM_WG;
        let (tm, tn) = GEMM_TILE;
        let (gx, gy) = GEMV_WG;
        let (spec, groups) = match (m, gemv_entry) {
            (1, Entry::GemvNn) => (Kernel::new(gemv_entry).with("WG_X", gx).with("WG_Y", gy), [u("N", n / 4)?.div_ceil(gx), 1, batch]),
            (1, _) => (Kernel::new(gemv_entry).with("WG_X", gx).with("WG_Y", gy), [u("N", n)?.div_ceil(gy), 1, batch]),
            _ => (Kernel::new(mm_entry).with("WG_X", wx).with("WG_Y", wy), [u("N", n)?.div_ceil(tn * wx), u("M", m)?.div_ceil(tm * wy), batch]),
        };
        gpu.dispatch(&spec.f16(f16), &params4, &[(gemm_vec4::A, &av), (gemm_vec4::BM, &bv), (gemm_vec4::C, &c)], groups)?;
        return Ok(c);
    }
    let kernel = match kernel {
        GemmKernel::Auto if m == 1 => GemmKernel::Gemv,
        GemmKernel::Auto => GemmKernel::Tiled,
        other => other,
    };
    let (spec, groups) = match kernel {
        GemmKernel::Tiled | GemmKernel::Auto => {
            let (wx, wy) = GEMM_WG;
            let (tm, tn) = GEMM_TILE;
            let spec = Kernel::new(Entry::Tiled).with("WG_X", wx).with("WG_Y", wy).f16(f16);
            (spec, [u("N", n)?.div_ceil(tn * wx), u("M", m)?.div_ceil(tm * wy), batch])
        }
        GemmKernel::Naive => {
            let (wx, wy) = GEMM_WG;
            let spec = Kernel::new(Entry::Naive).with("WG_X", wx).with("WG_Y", wy).f16(f16);
            (spec, [u("N", n)?.div_ceil(wx), u("M", m)?.div_ceil(wy), batch])
        }
        GemmKernel::Gemv => {
            if m != 1 {
                return Err(Error::InvalidArgument(format!("gemv: needs one row, got M = {m}")));
            }
            let (wn, wk) = GEMV_WG;
            let spec = Kernel::new(Entry::Gemv).with("WG_N", wn).with("WG_K", wk).f16(f16);
            (spec, [u("N", n)?.div_ceil(wn * GEMV_TN), 1, batch])
        }
    };
    // gemm.wgsl and gemv.wgsl bind the same numbers.
    let bufs = if kernel == GemmKernel::Gemv { [(gemv::A, &av), (gemv::BM, &bv), (gemv::C, &c)] } else { [(gemm::A, &av), (gemm::BM, &bv), (gemm::C, &c)] };
    gpu.dispatch(&spec, &params, &bufs, groups)?;
    Ok(c)
}

pub(crate) fn binary(a: &GpuView, a_shape: &[usize], b: &GpuView, b_shape: &[usize], kind: Binary) -> Result<GpuView> {
    let gpu = a.gpu();
    let a = contiguous_f32(a, a_shape, DType::F32)?;
    let b = contiguous_f32(b, b_shape, DType::F32)?;
    let n = numel(a_shape);
    let out = gpu.alloc(n, DType::F32)?;
    let rhs_n = numel(b_shape).max(1);
    let entry = match kind {
        Binary::Add => Entry::Add,
        Binary::Mul => Entry::Mul,
    };
    let params = ElementwiseParams { n: to_u32("elements", n)?, rhs_n: to_u32("elements", rhs_n)?, ..Default::default() };
    let kernel = Kernel::new(entry).with("WG", WG_1D);
    let bufs = [(elementwise::X, &a), (elementwise::Y, &b), (elementwise::OUT, &out)];
    gpu.dispatch(&kernel, &params, &bufs, grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

pub(crate) fn unary(a: &GpuView, shape: &[usize], kind: Unary) -> Result<GpuView> {
    let gpu = a.gpu();
    let a = contiguous_f32(a, shape, DType::F32)?;
    let n = numel(shape);
    let out = gpu.alloc(n, DType::F32)?;
    let (entry, scalar) = match kind {
        Unary::Gelu => (Entry::Gelu, 0.0f32),
        Unary::GeluTanh => (Entry::GeluTanh, 0.0),
        Unary::Silu => (Entry::Silu, 0.0),
        Unary::Tanh => (Entry::Tanh, 0.0),
        Unary::Relu => (Entry::Relu, 0.0),
        Unary::Scale(s) => (Entry::Scale, s),
    };
    let params = ElementwiseParams { n: to_u32("elements", n)?, rhs_n: 1, scalar, _pad: 0 };
    let kernel = Kernel::new(entry).with("WG", WG_1D);
    gpu.dispatch(&kernel, &params, &[(elementwise::X, &a), (elementwise::OUT, &out)], grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

fn rows_cols(shape: &[usize]) -> (usize, usize) {
    let cols = *shape.last().unwrap_or(&1);
    (numel(&shape[..shape.len().saturating_sub(1)]), cols)
}

pub(crate) fn softmax(x: &GpuView, shape: &[usize]) -> Result<GpuView> {
    let gpu = x.gpu();
    let x = contiguous_f32(x, shape, DType::F32)?;
    let (rows, cols) = rows_cols(shape);
    let out = gpu.alloc(rows * cols, DType::F32)?;
    let params = SoftmaxParams { rows: to_u32("rows", rows)?, cols: to_u32("cols", cols)?, ..Default::default() };
    let kernel = Kernel::new(Entry::Softmax).with("WG", WG_ROW);
    let groups = if cols == 0 { [0, 0, 0] } else { grid(&gpu, rows)? };
    gpu.dispatch(&kernel, &params, &[(softmax::X, &x), (softmax::OUT, &out)], groups)?;
    Ok(out)
}

/// Layer norm with `beta`, RMS norm without.
pub(crate) fn norm(x: &GpuView, shape: &[usize], gamma: &GpuView, beta: Option<&GpuView>, eps: f32) -> Result<GpuView> {
    let gpu: Rc<Gpu> = x.gpu();
    let x = contiguous_f32(x, shape, DType::F32)?;
    let (rows, cols) = rows_cols(shape);
    let gamma = contiguous_f32(gamma, &[cols], DType::F32)?;
    let out = gpu.alloc(rows * cols, DType::F32)?;
    let params = NormParams { rows: to_u32("rows", rows)?, cols: to_u32("cols", cols)?, eps, _pad: 0 };
    let groups = if cols == 0 { [0, 0, 0] } else { grid(&gpu, rows)? };
    match beta {
        Some(beta) => {
            let beta = contiguous_f32(beta, &[cols], DType::F32)?;
            let kernel = Kernel::new(Entry::LayerNorm).with("WG", WG_ROW);
            let bufs = [(norm::X, &x), (norm::GAMMA, &gamma), (norm::BETA, &beta), (norm::OUT, &out)];
            gpu.dispatch(&kernel, &params, &bufs, groups)?;
        }
        None => {
            let kernel = Kernel::new(Entry::RmsNorm).with("WG", WG_ROW);
            gpu.dispatch(&kernel, &params, &[(norm::X, &x), (norm::GAMMA, &gamma), (norm::OUT, &out)], groups)?;
        }
    }
    Ok(out)
}
