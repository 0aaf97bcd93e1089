//! Ops that models need beyond the basic set: reshapes and column views,
//! joining column blocks, and fused encoder attention.

use crate::error::{Error, Result};
use crate::gpu::nn::{self as gpu_nn, Rows};
use crate::gpu::GpuView;
use crate::kinds::numel;
use crate::kinds::DType;
use crate::ops::tensor::{Device, Storage, Tensor};

impl Tensor {
    /// The same elements in another shape (a view when the tensor is contiguous).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shapes("reshape", &self.shape, shape, "element counts differ"));
        }
        let (storage, dtype) = match &self.storage {
            Storage::Cpu(t) => (Storage::Cpu(t.reshape(shape)?), self.dtype),
            Storage::Gpu(v) if v.is_contiguous(&self.shape) => (Storage::Gpu(v.clone()), self.dtype),
            Storage::Gpu(v) => (Storage::Gpu(crate::gpu::ops::contiguous_f32(v, &self.shape, self.dtype)?), DType::F32),
        };
        Ok(Tensor { shape: shape.to_vec(), dtype, storage })
    }

    /// Columns `[start, start + len)` of the last dim, as a view.
    pub fn narrow_last(&self, start: usize, len: usize) -> Result<Tensor> {
        let r = self.shape.len();
        let last = *self.shape.last().ok_or_else(|| Error::InvalidArgument("narrow_last: needs at least 1 dim".into()))?;
        if start + len > last {
            return Err(Error::InvalidArgument(format!("narrow_last: columns {start}..{} of {last}", start + len)));
        }
        let mut shape = self.shape.clone();
        shape[r - 1] = len;
        let storage = match &self.storage {
            Storage::Cpu(t) => Storage::Cpu(t.narrow(r - 1, start, len)?),
            Storage::Gpu(v) => {
                let strides = v.strides(&self.shape);
                Storage::Gpu(v.with_layout(v.offset + start * strides[r - 1], strides))
            }
        };
        Ok(Tensor { shape, dtype: self.dtype, storage })
    }

    /// The last row of `[T, H]`, as a `[1, H]` view.
    pub fn last_row(&self) -> Result<Tensor> {
        let [t, h] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("last_row: expected [T, H], got {:?}", self.shape())));
        };
        if t <= 1 {
            return Ok(self.clone());
        }
        self.reshape(&[1, t * h])?.narrow_last((t - 1) * h, h)
    }

    /// Joins `[R, C_i]` blocks along the last dim into `[R, Σ C_i]`.
    pub fn cat_cols(parts: &[Tensor]) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| Error::InvalidArgument("cat_cols: no parts".into()))?;
        if parts.len() == 1 {
            return Ok(first.clone());
        }
        let lead = &first.shape[..first.shape.len().saturating_sub(1)];
        for p in parts {
            if p.shape.len() != first.shape.len() || &p.shape[..p.shape.len() - 1] != lead || p.dtype != DType::F32 {
                return Err(Error::shapes("cat_cols", &first.shape, &p.shape, "parts must be f32 and agree on all but the last dim"));
            }
        }
        let width: usize = parts.iter().map(|p| *p.shape.last().unwrap_or(&0)).sum();
        let mut shape = first.shape.clone();
        *shape.last_mut().expect("checked rank") = width;
        match &first.storage {
            Storage::Cpu(_) => {
                let ts = parts
                    .iter()
                    .map(|p| match &p.storage {
                        Storage::Cpu(t) => Ok(t.clone()),
                        Storage::Gpu(_) => Err(Error::DeviceMismatch { op: "cat_cols", lhs: "cpu", rhs: "webgpu" }),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let t = candle_core::Tensor::cat(&ts, shape.len() - 1)?;
                Ok(Tensor { shape, dtype: DType::F32, storage: Storage::Cpu(t) })
            }
            Storage::Gpu(v) => {
                let gpu = v.gpu();
                let out = gpu.alloc(numel(&shape), DType::F32)?;
                let rows = numel(lead);
                let mut col = 0;
                for p in parts {
                    let Storage::Gpu(pv) = &p.storage else {
                        return Err(Error::DeviceMismatch { op: "cat_cols", lhs: "webgpu", rhs: "cpu" });
                    };
                    let c = *p.shape.last().unwrap_or(&0);
                    gpu_nn::place_cols(pv, &p.shape, [rows, c], &out, width, col)?;
                    col += c;
                }
                Ok(Tensor { shape, dtype: DType::F32, storage: Storage::Gpu(out) })
            }
        }
    }
}

/// Each text's token count in a batch padded to `T` tokens, uploaded once
/// (on the GPU) so that every layer's attention reads the same buffer.
pub struct SeqLens {
    lens: Vec<usize>,
    gpu: Option<GpuView>,
}

impl SeqLens {
    pub fn new(device: &Device, lens: &[usize]) -> Result<SeqLens> {
        let gpu = match device {
            Device::Cpu => None,
            Device::Gpu(g) => {
                let l32 = lens.iter().map(|&l| crate::gpu::ops::to_u32("length", l)).collect::<Result<Vec<u32>>>()?;
                Some(g.upload(bytemuck::cast_slice(&l32), DType::F32, l32.len())?)
            }
        };
        Ok(SeqLens { lens: lens.to_vec(), gpu })
    }

    pub fn lens(&self) -> &[usize] {
        &self.lens
    }
}

/// Self-attention of an encoder over `B` texts padded to `T` tokens: `q`, `k`,
/// `v` are `[B, T, H*D]` (views of one fused projection are fine); keys at
/// positions `>= lens[b]` are masked out. Returns `[B, T, H*D]`, contiguous.
pub fn encoder_attention(q: &Tensor, k: &Tensor, v: &Tensor, seq: &SeqLens, heads: usize) -> Result<Tensor> {
    let lens = seq.lens();
    let [b, t, width] = *q.shape() else {
        return Err(Error::InvalidArgument(format!("attention: q must be [B, T, H*D], got {:?}", q.shape())));
    };
    if k.shape() != q.shape() || v.shape() != q.shape() {
        return Err(Error::shapes("attention", q.shape(), k.shape(), "q, k and v must have one shape"));
    }
    if heads == 0 || width % heads != 0 || lens.len() != b || lens.iter().any(|&l| l > t) {
        return Err(Error::InvalidArgument(format!("attention: {heads} heads, lens {lens:?} for q {:?}", q.shape())));
    }
    let d = width / heads;
    let scale = 1.0 / (d as f32).sqrt();
    match (&q.storage, &k.storage, &v.storage) {
        (Storage::Cpu(q), Storage::Cpu(k), Storage::Cpu(v)) => crate::cpu::encoder_attention(q, k, v, lens, heads, scale).map(Tensor::from_cpu),
        (Storage::Gpu(qv), Storage::Gpu(kv), Storage::Gpu(vv)) => {
            let rows = |view: &GpuView, x: &Tensor| -> Result<(GpuView, usize)> {
                let st = view.strides(x.shape());
                if st[2] == 1 && st[0] == st[1] * t {
                    Ok((view.clone(), st[1]))
                } else {
                    Ok((crate::gpu::ops::contiguous_f32(view, x.shape(), x.dtype())?, width))
                }
            };
            let (mut qb, mut ql) = rows(qv, q)?;
            let (mut kb, mut kl) = rows(kv, k)?;
            let (mut vb, mut vl) = rows(vv, v)?;
            if ql != kl || ql != vl {
                // One row stride for all three: copy the odd ones out.
                for (b, l, x) in [(&mut qb, &mut ql, q), (&mut kb, &mut kl, k), (&mut vb, &mut vl, v)] {
                    if *l != width {
                        *b = crate::gpu::ops::contiguous_f32(b, x.shape(), x.dtype())?;
                        *l = width;
                    }
                }
            }
            let lens_buf = seq.gpu.as_ref().ok_or(Error::DeviceMismatch { op: "attention", lhs: "webgpu", rhs: "cpu" })?;
            let y = gpu_nn::attention(
                Rows { view: &qb, ld: ql, off: 0 },
                Rows { view: &kb, ld: kl, off: 0 },
                Rows { view: &vb, ld: vl, off: 0 },
                lens_buf,
                b,
                t,
                heads,
                d,
                scale,
            )?;
            Ok(Tensor::from_gpu(y, vec![b, t, width]))
        }
        _ => Err(Error::DeviceMismatch { op: "attention", lhs: q.device_name(), rhs: k.device_name() }),
    }
}
