//! The backward ops fine-tuning needs, beside the forward op set: each
//! checks its operands, then runs on the CPU (`formulas`, candle-core) or the
//! GPU (`shaders/backward.wgsl`). Matmul, LoRA and attention backward are
//! compositions of forward ops (matmuls of transposed views) plus these.

use crate::error::{Error, Result};
use crate::gpu::train as gpu;
use crate::kinds::{Act, DType};
use crate::ops::tensor::{Storage, Tensor};

/// The CPU formulas, written on candle tensors of any float dtype: the CPU
/// path runs them in f32, the gradient checks in f64 against finite
/// differences of the forward ops.
pub mod formulas {
    use candle_core::{Result, Tensor as C, D};

    use crate::kinds::Act;

    /// `dy * f'(x)`.
    pub fn act_backward(x: &C, dy: &C, act: Act) -> Result<C> {
        let d = match act {
            Act::Gelu => {
                let cdf = ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)? * 0.5;
                let pdf = (x.sqr()? * -0.5)?.exp()? * (0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
                (cdf? + (x * pdf?)?)?
            }
            Act::GeluTanh => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                let cube = (x.sqr()? * x)?;
                let u = ((x + (cube * 0.044715)?)? * k)?;
                let t = u.tanh()?;
                let du = (((x.sqr()? * (3.0 * 0.044715))? + 1.0)? * k)?;
                let one_minus_t2 = (t.sqr()?.neg()? + 1.0)?;
                let left = ((t + 1.0)? * 0.5)?;
                let right = (((x * one_minus_t2)? * du)? * 0.5)?;
                (left + right)?
            }
            Act::Silu => {
                let s = (x.neg()?.exp()? + 1.0)?.recip()?;
                let one_minus_s = (s.neg()? + 1.0)?;
                (&s * ((x * one_minus_s)? + 1.0)?)?
            }
            Act::Relu => x.gt(0.0)?.to_dtype(x.dtype())?,
        };
        dy * d
    }

    /// Softmax backward from the output: `y * (dy - sum(dy * y))` per row.
    pub fn softmax_backward(y: &C, dy: &C) -> Result<C> {
        let dot = (dy * y)?.sum_keepdim(D::Minus1)?;
        y * dy.broadcast_sub(&dot)?
    }

    /// Rows of `x [.., C]` flattened to `[R, C]`.
    fn rows(x: &C) -> Result<C> {
        let c = x.dim(D::Minus1)?;
        x.reshape((x.elem_count() / c.max(1), c))
    }

    /// Layer norm (`rms` false) or RMS norm (`rms` true) backward:
    /// `(dx, dgamma, dbeta)` (`dbeta` only for layer norm).
    pub fn norm_backward(x: &C, gamma: &C, dy: &C, eps: f64, rms: bool) -> Result<(C, C, Option<C>)> {
        let shape = x.dims().to_vec();
        let (x, dy) = (rows(x)?, rows(dy)?);
        let centred = if rms { x.clone() } else { x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)? };
        let inv = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
        let xhat = centred.broadcast_mul(&inv)?;
        let g = dy.broadcast_mul(gamma)?;
        let mut inner = g.broadcast_sub(&xhat.broadcast_mul(&(&g * &xhat)?.mean_keepdim(D::Minus1)?)?)?;
        if !rms {
            inner = inner.broadcast_sub(&g.mean_keepdim(D::Minus1)?)?;
        }
        let dx = inner.broadcast_mul(&inv)?.reshape(shape)?;
        let dgamma = (&dy * &xhat)?.sum(0)?;
        let dbeta = if rms { None } else { Some(dy.sum(0)?) };
        Ok((dx, dgamma, dbeta))
    }

    /// Cross-entropy of `logits [R, C]` against `targets` (negative: ignored):
    /// `(row losses [R], (softmax - onehot) * scale)`.
    pub fn cross_entropy(logits: &C, targets: &[i64], scale: f64) -> Result<(C, C)> {
        let (r, c) = logits.dims2()?;
        let max = logits.max_keepdim(D::Minus1)?;
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        let probs = shifted.broadcast_sub(&lse)?.exp()?;
        let mut onehot = vec![0f64; r * c];
        let mut keep = vec![0f64; r];
        for (i, &t) in targets.iter().enumerate() {
            if t >= 0 {
                onehot[i * c + t as usize] = 1.0;
                keep[i] = 1.0;
            }
        }
        let dtype = logits.dtype();
        let onehot = C::from_vec(onehot, (r, c), logits.device())?.to_dtype(dtype)?;
        let keep = C::from_vec(keep, (r, 1), logits.device())?.to_dtype(dtype)?;
        // -log softmax[target] = lse - shifted[target], zero for ignored rows.
        let picked = (&shifted * &onehot)?.sum_keepdim(D::Minus1)?;
        let loss = ((lse - picked)? * &keep)?.flatten_all()?;
        let grad = ((probs - onehot)?.broadcast_mul(&keep)? * scale)?;
        Ok((loss, grad))
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shapes(op, a.shape(), b.shape(), "the gradient must have the forward operand's shape"));
    }
    if let Some(t) = [a, b].into_iter().find(|t| t.dtype() != DType::F32) {
        return Err(Error::DType { op, got: t.dtype().name(), expected: "f32" });
    }
    Ok(())
}

fn cpu_wrap(t: candle_core::Tensor) -> Tensor {
    Tensor { shape: t.dims().to_vec(), dtype: DType::F32, storage: Storage::Cpu(t) }
}

fn mismatch(op: &'static str, a: &Tensor, b: &Tensor) -> Error {
    Error::DeviceMismatch { op, lhs: a.device_name(), rhs: b.device_name() }
}

impl Tensor {
    /// `dy * f'(self)` for the activation `act` applied to `self`.
    pub fn act_backward(&self, dy: &Tensor, act: Act) -> Result<Tensor> {
        same_shape("act_backward", self, dy)?;
        match (&self.storage, &dy.storage) {
            (Storage::Cpu(x), Storage::Cpu(d)) => Ok(cpu_wrap(formulas::act_backward(x, d, act)?)),
            (Storage::Gpu(x), Storage::Gpu(d)) => Ok(Tensor::from_gpu(gpu::act_backward(x, d, &self.shape, act)?, self.shape.clone())),
            _ => Err(mismatch("act_backward", self, dy)),
        }
    }

    /// Softmax backward over the last dim, from the softmax's output `self`.
    pub fn softmax_backward(&self, dy: &Tensor) -> Result<Tensor> {
        same_shape("softmax_backward", self, dy)?;
        match (&self.storage, &dy.storage) {
            (Storage::Cpu(y), Storage::Cpu(d)) => Ok(cpu_wrap(formulas::softmax_backward(y, d)?)),
            (Storage::Gpu(y), Storage::Gpu(d)) => Ok(Tensor::from_gpu(gpu::softmax_backward(y, d, &self.shape)?, self.shape.clone())),
            _ => Err(mismatch("softmax_backward", self, dy)),
        }
    }

    /// Layer norm backward at input `self`: `(dx, dgamma [C], dbeta [C])`.
    pub fn layer_norm_backward(&self, gamma: &Tensor, dy: &Tensor, eps: f32) -> Result<(Tensor, Tensor, Tensor)> {
        let (dx, p) = self.norm_backward("layer_norm_backward", gamma, dy, eps, false, true)?;
        let (dgamma, dbeta) = p.expect("asked for the parameters' gradients");
        Ok((dx, dgamma, dbeta.expect("layer norm has a beta")))
    }

    /// RMS norm backward at input `self`: `(dx, dgamma [C])`.
    pub fn rms_norm_backward(&self, gamma: &Tensor, dy: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
        let (dx, p) = self.norm_backward("rms_norm_backward", gamma, dy, eps, true, true)?;
        Ok((dx, p.expect("asked for the parameters' gradients").0))
    }

    /// `dx` alone of layer norm (`rms` false) or RMS norm (`rms` true): for a
    /// frozen norm, without the column sums of dγ and dβ.
    pub fn norm_input_grad(&self, gamma: &Tensor, dy: &Tensor, eps: f32, rms: bool) -> Result<Tensor> {
        Ok(self.norm_backward("norm_input_grad", gamma, dy, eps, rms, false)?.0)
    }

    #[allow(clippy::type_complexity)]
    fn norm_backward(
        &self,
        op: &'static str,
        gamma: &Tensor,
        dy: &Tensor,
        eps: f32,
        rms: bool,
        params: bool,
    ) -> Result<(Tensor, Option<(Tensor, Option<Tensor>)>)> {
        same_shape(op, self, dy)?;
        let c = *self.shape.last().ok_or_else(|| Error::InvalidArgument(format!("{op}: needs at least 1 dim")))?;
        if gamma.shape() != [c] {
            return Err(Error::shapes(op, &self.shape, gamma.shape(), format!("the weight must be [{c}]")));
        }
        match (&self.storage, &gamma.storage, &dy.storage) {
            (Storage::Cpu(x), Storage::Cpu(g), Storage::Cpu(d)) => {
                let (dx, dg, db) = formulas::norm_backward(x, g, d, eps as f64, rms)?;
                Ok((cpu_wrap(dx), params.then(|| (cpu_wrap(dg), db.map(cpu_wrap)))))
            }
            (Storage::Gpu(x), Storage::Gpu(g), Storage::Gpu(d)) => {
                let (dx, dyx) = gpu::norm_backward(x, g, d, &self.shape, eps, rms)?;
                let (dx, dyx) = (Tensor::from_gpu(dx, self.shape.clone()), Tensor::from_gpu(dyx, self.shape.clone()));
                if !params {
                    return Ok((dx, None));
                }
                let dgamma = dyx.reshape(&[self.numel() / c.max(1), c])?.sum_rows()?;
                let dbeta = if rms { None } else { Some(dy.reshape(&[self.numel() / c.max(1), c])?.sum_rows()?) };
                Ok((dx, Some((dgamma, dbeta))))
            }
            _ => Err(mismatch(op, self, dy)),
        }
    }

    /// Cross-entropy of logits `self [R, C]` against `targets` (one per row;
    /// negative ignores the row): `(row losses [R], dlogits)` where
    /// `dlogits = (softmax - onehot) * scale` on kept rows (pass `1 / kept
    /// rows` for a mean).
    pub fn cross_entropy(&self, targets: &[i64], scale: f32) -> Result<(Tensor, Tensor)> {
        let [r, c] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("cross_entropy: logits must be [rows, classes], got {:?}", self.shape())));
        };
        if targets.len() != r {
            return Err(Error::InvalidArgument(format!("cross_entropy: {} targets for {r} rows", targets.len())));
        }
        if let Some(&bad) = targets.iter().find(|&&t| t >= c as i64) {
            return Err(Error::InvalidArgument(format!("cross_entropy: target {bad} is not one of the {c} classes")));
        }
        match &self.storage {
            Storage::Cpu(x) => {
                let (loss, grad) = formulas::cross_entropy(x, targets, scale as f64)?;
                Ok((cpu_wrap(loss), cpu_wrap(grad)))
            }
            Storage::Gpu(x) => {
                let t: Vec<f32> = targets.iter().map(|&t| if t < 0 { -1.0 } else { t as f32 }).collect();
                let t = Tensor::from_f32(&self.device(), &t, &[r])?;
                let Storage::Gpu(tv) = &t.storage else { unreachable!("made on the GPU") };
                let (loss, dx) = gpu::cross_entropy(x, tv, &self.shape, scale)?;
                Ok((Tensor::from_gpu(loss, vec![r]), Tensor::from_gpu(dx, self.shape.clone())))
            }
        }
    }

    /// Column sums of `[R, C]` as `[C]` (a `[1, R] x [R, C]` matmul).
    pub fn sum_rows(&self) -> Result<Tensor> {
        let [r, c] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("sum_rows: expected [rows, cols], got {:?}", self.shape())));
        };
        Tensor::from_f32(&self.device(), &vec![1.0; r], &[1, r])?.matmul(self)?.reshape(&[c])
    }

    /// The sum of squares of all elements, as a `[1, 1]` tensor (left on the device).
    pub fn sum_squares(&self) -> Result<Tensor> {
        let flat = self.reshape(&[1, self.numel()])?;
        flat.matmul(&flat.transpose()?)
    }

    /// A tensor of zeros with `self`'s shape on `self`'s device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::from_f32(&self.device(), &vec![0.0; self.numel()], self.shape())
    }
}

/// The AdamW settings (f64, as torch keeps them: the complements `1 - beta`
/// lose 1e-5 relative when taken in f32).
#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamW {
    /// torch.optim.AdamW's defaults.
    fn default() -> Self {
        AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

impl AdamW {
    /// Step `t` (1-based) on one parameter: `(p', m', v')`. The gradient is
    /// multiplied by `grad_scale` first (global-norm clipping), `lr` replaces
    /// the configured rate (schedules).
    #[allow(clippy::too_many_arguments)]
    pub fn update(&self, t: u32, lr: f64, grad_scale: f32, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        for x in [g, m, v] {
            same_shape("adamw", p, x)?;
        }
        let c1 = 1.0 - self.beta1.powi(t as i32);
        let c2 = 1.0 - self.beta2.powi(t as i32);
        let (b1c, b2c, decay) = (1.0 - self.beta1, 1.0 - self.beta2, 1.0 - lr * self.weight_decay);
        // As f32, the precision the GPU kernel gets.
        let f = |x: f64| x as f32 as f64;
        match (&p.storage, &g.storage, &m.storage, &v.storage) {
            (Storage::Cpu(p0), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) => {
                let g = (g * f(grad_scale as f64))?;
                let m = ((m * f(self.beta1))? + (&g * f(b1c))?)?;
                let v = ((v * f(self.beta2))? + (g.sqr()? * f(b2c))?)?;
                let step = ((&m / f(c1))? / ((&v / f(c2))?.sqrt()? + f(self.eps))?)?;
                let p1 = ((p0 * f(decay))? - (step * f(lr))?)?;
                Ok((cpu_wrap(p1), cpu_wrap(m), cpu_wrap(v)))
            }
            (Storage::Gpu(p0), Storage::Gpu(g), Storage::Gpu(m), Storage::Gpu(v)) => {
                let k = [lr, self.beta1, b1c, self.beta2, b2c, self.eps, decay, c1, c2, grad_scale as f64].map(|x| x as f32);
                let (p1, m1, v1) = gpu::adamw(p0, g, m, v, &p.shape, k)?;
                let t = |x| Tensor::from_gpu(x, p.shape.clone());
                Ok((t(p1), t(m1), t(v1)))
            }
            _ => Err(Error::DeviceMismatch { op: "adamw", lhs: p.device_name(), rhs: g.device_name() }),
        }
    }
}

impl Tensor {
    /// `[B·T, H·D] -> [B·H, T, D]` for `b` sequences of `T` tokens, contiguous (one copy).
    pub fn split_heads_batched(&self, b: usize, heads: usize) -> Result<Tensor> {
        let [bt, w] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("split_heads: expected [tokens, width], got {:?}", self.shape())));
        };
        if heads == 0 || w % heads != 0 || b == 0 || bt % b != 0 {
            return Err(Error::InvalidArgument(format!("split_heads: [{bt}, {w}] does not split into {b} sequences of {heads} heads")));
        }
        let (t, d) = (bt / b, w / heads);
        self.reshape(&[b, t, heads, d])?.permute(&[0, 2, 1, 3])?.reshape(&[b * heads, t, d])
    }

    /// `[T, H·D] -> [H, T, D]` (one sequence).
    pub fn split_heads(&self, heads: usize) -> Result<Tensor> {
        self.split_heads_batched(1, heads)
    }

    /// `[B·H, T, D] -> [B·T, H·D]`: `split_heads_batched` undone.
    pub fn merge_heads_batched(&self, b: usize) -> Result<Tensor> {
        let [bh, t, d] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("merge_heads: expected [heads, tokens, dim], got {:?}", self.shape())));
        };
        if b == 0 || bh % b != 0 {
            return Err(Error::InvalidArgument(format!("merge_heads: {bh} heads do not split into {b} sequences")));
        }
        let h = bh / b;
        self.reshape(&[b, h, t, d])?.permute(&[0, 2, 1, 3])?.reshape(&[b * t, h * d])
    }

    /// `[H, T, D] -> [T, H·D]` (one sequence).
    pub fn merge_heads(&self) -> Result<Tensor> {
        self.merge_heads_batched(1)
    }

    /// The dims reordered (`out.dim(i) = self.dim(dims[i])`), as a contiguous copy.
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let r = self.shape.len();
        let mut seen = dims.to_vec();
        seen.sort_unstable();
        if seen != (0..r).collect::<Vec<_>>() {
            return Err(Error::InvalidArgument(format!("permute: {dims:?} is not a permutation of the {r} dims of {:?}", self.shape)));
        }
        let shape: Vec<usize> = dims.iter().map(|&i| self.shape[i]).collect();
        match &self.storage {
            Storage::Cpu(c) => Ok(cpu_wrap(c.permute(dims)?.contiguous()?)),
            Storage::Gpu(v) => {
                let base = crate::gpu::ops::contiguous_f32(v, &self.shape, self.dtype)?;
                let strides = crate::gpu::contiguous_strides(&self.shape);
                let view = base.with_layout(0, dims.iter().map(|&i| strides[i]).collect());
                let out = crate::gpu::ops::contiguous_f32(&view, &shape, DType::F32)?;
                Ok(Tensor::from_gpu(out, shape))
            }
        }
    }
}

impl Tensor {
    /// Grouped-query heads: `[KVH, T, D] -> [KVH·rep, T, D]`, head `h` a copy of KV head `h / rep`.
    pub fn repeat_heads(&self, rep: usize) -> Result<Tensor> {
        let [kvh, t, d] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("repeat_heads: expected [heads, tokens, dim], got {:?}", self.shape())));
        };
        if rep == 1 {
            return Ok(self.clone());
        }
        match &self.storage {
            Storage::Cpu(c) => Ok(cpu_wrap(c.unsqueeze(1)?.broadcast_as((kvh, rep, t, d))?.contiguous()?.reshape((kvh * rep, t, d))?)),
            Storage::Gpu(v) => {
                let base = crate::gpu::ops::contiguous_f32(v, &self.shape, self.dtype)?;
                let view = base.with_layout(0, vec![t * d, 0, d, 1]);
                let out = crate::gpu::ops::contiguous_f32(&view, &[kvh, rep, t, d], DType::F32)?;
                Ok(Tensor::from_gpu(out, vec![kvh * rep, t, d]))
            }
        }
    }

    /// `repeat_heads`' backward: `[KVH·rep, T, D] -> [KVH, T, D]`, each KV head the sum of its group.
    pub fn sum_head_groups(&self, rep: usize) -> Result<Tensor> {
        let [h, t, d] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("sum_head_groups: expected [heads, tokens, dim], got {:?}", self.shape())));
        };
        if rep == 1 {
            return Ok(self.clone());
        }
        let ones = Tensor::from_f32(&self.device(), &vec![1.0; rep], &[1, rep])?;
        ones.matmul(&self.reshape(&[h / rep, rep, t * d])?)?.reshape(&[h / rep, t, d])
    }
}
