//! Dispatches of the backward kernels and AdamW (`shaders/backward.wgsl`).
//! Shapes are checked by the callers in `ops::backward`.

use super::kernels::{Kernel, Shader};
use super::ops::{contiguous_f32, grid, to_u32, WG_1D};
use super::GpuView;
use crate::error::Result;
use crate::kinds::numel;
use crate::kinds::Act;
use crate::kinds::DType;

const WG_ROW: u32 = 64;

/// The kernel's uniform: two counts and twelve floats (`f` padded with zeros).
fn params(a: usize, b: usize, f: &[f32]) -> Result<Vec<u32>> {
    let mut v = vec![to_u32("size", a)?, to_u32("size", b)?, 0, 0];
    v.extend(f.iter().map(|x| x.to_bits()));
    v.resize(16, 0);
    Ok(v)
}

fn rows_cols(shape: &[usize]) -> (usize, usize) {
    let cols = *shape.last().unwrap_or(&1);
    (numel(&shape[..shape.len().saturating_sub(1)]), cols)
}

pub(crate) fn act_backward(x: &GpuView, dy: &GpuView, shape: &[usize], act: Act) -> Result<GpuView> {
    let gpu = x.gpu();
    let (x, dy) = (contiguous_f32(x, shape, DType::F32)?, contiguous_f32(dy, shape, DType::F32)?);
    let n = numel(shape);
    let out = gpu.alloc(n, DType::F32)?;
    let entry = match act {
        Act::Gelu => "gelu_bwd",
        Act::GeluTanh => "gelu_tanh_bwd",
        Act::Silu => "silu_bwd",
        Act::Relu => "relu_bwd",
    };
    let kernel = Kernel::new(Shader::Backward, entry).with("WG", WG_1D);
    gpu.dispatch(&kernel, &params(n, 0, &[])?, &[(1, x.buffer()), (2, dy.buffer()), (5, out.buffer())], grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

pub(crate) fn softmax_backward(y: &GpuView, dy: &GpuView, shape: &[usize]) -> Result<GpuView> {
    let gpu = y.gpu();
    let (y, dy) = (contiguous_f32(y, shape, DType::F32)?, contiguous_f32(dy, shape, DType::F32)?);
    let (rows, cols) = rows_cols(shape);
    let out = gpu.alloc(rows * cols, DType::F32)?;
    let kernel = Kernel::new(Shader::Backward, "softmax_bwd").with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    gpu.dispatch(&kernel, &params(rows, cols, &[])?, &[(1, y.buffer()), (2, dy.buffer()), (5, out.buffer())], groups)?;
    Ok(out)
}

/// `(dx, dy * xhat)` of layer norm (`rms` false) or RMS norm (`rms` true).
pub(crate) fn norm_backward(x: &GpuView, gamma: &GpuView, dy: &GpuView, shape: &[usize], eps: f32, rms: bool) -> Result<(GpuView, GpuView)> {
    let gpu = x.gpu();
    let (rows, cols) = rows_cols(shape);
    let (x, dy) = (contiguous_f32(x, shape, DType::F32)?, contiguous_f32(dy, shape, DType::F32)?);
    let gamma = contiguous_f32(gamma, &[cols], DType::F32)?;
    let dx = gpu.alloc(rows * cols, DType::F32)?;
    let dyx = gpu.alloc(rows * cols, DType::F32)?;
    let kernel = Kernel::new(Shader::Backward, if rms { "rms_norm_bwd" } else { "layer_norm_bwd" }).with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    let bufs = [(1, x.buffer()), (2, dy.buffer()), (3, gamma.buffer()), (5, dx.buffer()), (6, dyx.buffer())];
    gpu.dispatch(&kernel, &params(rows, cols, &[eps])?, &bufs, groups)?;
    Ok((dx, dyx))
}

/// `(row losses [R], dlogits [R, C])`; `targets` holds class ids as f32, negative = ignored.
pub(crate) fn cross_entropy(logits: &GpuView, targets: &GpuView, shape: &[usize], scale: f32) -> Result<(GpuView, GpuView)> {
    let gpu = logits.gpu();
    let (rows, cols) = rows_cols(shape);
    let x = contiguous_f32(logits, shape, DType::F32)?;
    let loss = gpu.alloc(rows, DType::F32)?;
    let dx = gpu.alloc(rows * cols, DType::F32)?;
    let kernel = Kernel::new(Shader::Backward, "cross_entropy").with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    gpu.dispatch(&kernel, &params(rows, cols, &[scale])?, &[(1, x.buffer()), (2, targets.buffer()), (5, dx.buffer()), (6, loss.buffer())], groups)?;
    Ok((loss, dx))
}

/// One AdamW step over `n` elements: `(p', m', v')`. `f` as in the shader:
/// lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, 1 - lr · weight decay,
/// 1 - beta1^t, 1 - beta2^t, gradient factor.
pub(crate) fn adamw(p: &GpuView, g: &GpuView, m: &GpuView, v: &GpuView, shape: &[usize], f: [f32; 10]) -> Result<(GpuView, GpuView, GpuView)> {
    let gpu = p.gpu();
    let n = numel(shape);
    let c = |t: &GpuView| contiguous_f32(t, shape, DType::F32);
    let (p, g, m, v) = (c(p)?, c(g)?, c(m)?, c(v)?);
    let (p2, m2, v2) = (gpu.alloc(n, DType::F32)?, gpu.alloc(n, DType::F32)?, gpu.alloc(n, DType::F32)?);
    let kernel = Kernel::new(Shader::Backward, "adamw").with("WG", WG_1D);
    let bufs = [(1, p.buffer()), (2, g.buffer()), (3, m.buffer()), (4, v.buffer()), (5, p2.buffer()), (6, m2.buffer()), (7, v2.buffer())];
    gpu.dispatch(&kernel, &params(n, 0, &f)?, &bufs, grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok((p2, m2, v2))
}
