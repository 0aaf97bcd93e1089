//! Dispatches of the backward kernels (`shaders/activation_backward.wgsl`,
//! `softmax_backward.wgsl`, `norm_backward.wgsl`), the loss (`loss.wgsl`)
//! and AdamW (`adamw.wgsl`). Shapes are checked by the callers in `ops::backward`.

use super::kernels::{activation_backward as act_bwd, adamw as bind_adamw, loss, norm_backward, softmax_backward, uniform, Entry, Kernel};
use super::ops::{contiguous_f32, grid, to_u32, NormParams, SoftmaxParams, WG_1D};
use super::GpuView;
use crate::error::Result;
use crate::kinds::numel;
use crate::kinds::Act;
use crate::kinds::DType;

const WG_ROW: u32 = 64;

uniform! {
    /// activation_backward.wgsl: N.
    ActBackwardParams { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
}

uniform! {
    /// loss.wgsl: rows, classes, the gradient's factor.
    LossParams { rows: u32, cols: u32, scale: f32, _pad: u32 }
}

uniform! {
    /// adamw.wgsl: N, then the step's constants (see [`adamw`]).
    AdamwParams {
        n: u32, lr: f32, beta1: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32,
        eps: f32, decay: f32, bias1: f32, bias2: f32, grad_scale: f32, _pad: u32,
    }
}

fn row_params(rows: usize, cols: usize) -> Result<(u32, u32)> {
    Ok((to_u32("size", rows)?, to_u32("size", cols)?))
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
        Act::Gelu => Entry::GeluBwd,
        Act::GeluTanh => Entry::GeluTanhBwd,
        Act::Silu => Entry::SiluBwd,
        Act::Relu => Entry::ReluBwd,
    };
    let kernel = Kernel::new(entry).with("WG", WG_1D);
    let params = ActBackwardParams { n: to_u32("size", n)?, ..Default::default() };
    gpu.dispatch(&kernel, &params, &[(act_bwd::X, &x), (act_bwd::DY, &dy), (act_bwd::DX, &out)], grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok(out)
}

pub(crate) fn softmax_backward(y: &GpuView, dy: &GpuView, shape: &[usize]) -> Result<GpuView> {
    let gpu = y.gpu();
    let (y, dy) = (contiguous_f32(y, shape, DType::F32)?, contiguous_f32(dy, shape, DType::F32)?);
    let (rows, cols) = rows_cols(shape);
    let out = gpu.alloc(rows * cols, DType::F32)?;
    let kernel = Kernel::new(Entry::SoftmaxBwd).with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    let (r, c) = row_params(rows, cols)?;
    let params = SoftmaxParams { rows: r, cols: c, ..Default::default() };
    gpu.dispatch(&kernel, &params, &[(softmax_backward::Y, &y), (softmax_backward::DY, &dy), (softmax_backward::DX, &out)], groups)?;
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
    let kernel = Kernel::new(if rms { Entry::RmsNormBwd } else { Entry::LayerNormBwd }).with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    let bufs = [(norm_backward::X, &x), (norm_backward::DY, &dy), (norm_backward::GAMMA, &gamma), (norm_backward::DX, &dx), (norm_backward::DYX, &dyx)];
    let (r, c) = row_params(rows, cols)?;
    gpu.dispatch(&kernel, &NormParams { rows: r, cols: c, eps, _pad: 0 }, &bufs, groups)?;
    Ok((dx, dyx))
}

/// `(row losses [R], dlogits [R, C])`; `targets` holds class ids as f32, negative = ignored.
pub(crate) fn cross_entropy(logits: &GpuView, targets: &GpuView, shape: &[usize], scale: f32) -> Result<(GpuView, GpuView)> {
    let gpu = logits.gpu();
    let (rows, cols) = rows_cols(shape);
    let x = contiguous_f32(logits, shape, DType::F32)?;
    let loss_rows = gpu.alloc(rows, DType::F32)?;
    let dx = gpu.alloc(rows * cols, DType::F32)?;
    let kernel = Kernel::new(Entry::CrossEntropy).with("WG", WG_ROW);
    let groups = if cols == 0 { [0; 3] } else { grid(&gpu, rows)? };
    let (r, c) = row_params(rows, cols)?;
    let bufs = [(loss::LOGITS, &x), (loss::TARGETS, targets), (loss::DLOGITS, &dx), (loss::LOSS, &loss_rows)];
    gpu.dispatch(&kernel, &LossParams { rows: r, cols: c, scale, _pad: 0 }, &bufs, groups)?;
    Ok((loss_rows, dx))
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
    let kernel = Kernel::new(Entry::Adamw).with("WG", WG_1D);
    let bufs = [
        (bind_adamw::PARAM, &p),
        (bind_adamw::GRAD, &g),
        (bind_adamw::M, &m),
        (bind_adamw::V, &v),
        (bind_adamw::PARAM_OUT, &p2),
        (bind_adamw::M_OUT, &m2),
        (bind_adamw::V_OUT, &v2),
    ];
    let [lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay, bias1, bias2, grad_scale] = f;
    let params = AdamwParams { n: to_u32("size", n)?, lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay, bias1, bias2, grad_scale, _pad: 0 };
    gpu.dispatch(&kernel, &params, &bufs, grid(&gpu, n.div_ceil(WG_1D as usize))?)?;
    Ok((p2, m2, v2))
}
