//! The op set models are written against. Each op checks its operands once
//! here (shapes, dtypes, devices) and then runs on the operands' backend.
//!
//! Legend: `B` batch dims, `M` rows, `K` inner size, `N` columns, `C` the last
//! (normalised) dimension.

use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::ops as gpu;
use crate::kinds::{Binary, DType, GemmKernel, Unary};
use crate::ops::tensor::{Storage, Tensor};

/// The output shape of `[B.., M, K] x [B.., K, N]`. Either side may have
/// no batch dims (rank 2): it is then shared by every batch of the other.
pub(crate) fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::shapes("matmul", a, b, "both operands need at least 2 dims"));
    }
    let (ab, am) = a.split_at(a.len() - 2);
    let (bb, bm) = b.split_at(b.len() - 2);
    if am[1] != bm[0] {
        return Err(Error::shapes("matmul", a, b, format!("inner sizes differ ({} vs {})", am[1], bm[0])));
    }
    let batch = match (ab.is_empty(), bb.is_empty()) {
        (_, true) => ab,
        (true, false) => bb,
        (false, false) if ab == bb => ab,
        _ => return Err(Error::shapes("matmul", a, b, "batch dims differ")),
    };
    let mut out = batch.to_vec();
    out.extend([am[0], bm[1]]);
    Ok(out)
}

fn same_device(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    match (&a.storage, &b.storage) {
        (Storage::Cpu(_), Storage::Cpu(_)) => Ok(()),
        (Storage::Gpu(x), Storage::Gpu(y)) if x.same_gpu(y) => Ok(()),
        _ => Err(Error::DeviceMismatch { op, lhs: a.device_name(), rhs: b.device_name() }),
    }
}

fn need_f32(op: &'static str, t: &Tensor) -> Result<()> {
    match t.dtype {
        DType::F32 => Ok(()),
        other => Err(Error::DType { op, got: other.name(), expected: "f32" }),
    }
}

/// `rhs` must have `lhs`'s shape or a suffix of it (`[C]` against `[.., C]`).
fn broadcast_ok(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<()> {
    if rhs.len() <= lhs.len() && lhs[lhs.len() - rhs.len()..] == *rhs {
        Ok(())
    } else {
        Err(Error::shapes(op, lhs, rhs, "the right operand must have the left's shape or its trailing dims"))
    }
}

fn last_dim(op: &'static str, x: &Tensor) -> Result<usize> {
    x.shape.last().copied().ok_or_else(|| Error::InvalidArgument(format!("{op}: needs at least 1 dim, got a scalar")))
}

impl Tensor {
    /// `[B.., M, K] x [B.., K, N] -> [B.., M, N]`. The right side may be f16.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.matmul_with(rhs, GemmKernel::Auto)
    }

    pub fn matmul_with(&self, rhs: &Tensor, kernel: GemmKernel) -> Result<Tensor> {
        same_device("matmul", self, rhs)?;
        need_f32("matmul", self)?;
        let out = matmul_shape(&self.shape, &rhs.shape)?;
        match (&self.storage, &rhs.storage) {
            (Storage::Cpu(a), Storage::Cpu(b)) => cpu::matmul(a, b, out).map(Tensor::from_cpu),
            (Storage::Gpu(a), Storage::Gpu(b)) => Ok(Tensor::from_gpu(gpu::matmul(a, &self.shape, b, &rhs.shape, rhs.dtype, out.clone(), kernel)?, out)),
            _ => unreachable!("checked by same_device"),
        }
    }

    /// Swaps the last two dims. A view: no data moves.
    pub fn transpose(&self) -> Result<Tensor> {
        let r = self.shape.len();
        if r < 2 {
            return Err(Error::InvalidArgument(format!("transpose: needs at least 2 dims, got {:?}", self.shape)));
        }
        let mut shape = self.shape.clone();
        shape.swap(r - 2, r - 1);
        let storage = match &self.storage {
            Storage::Cpu(t) => Storage::Cpu(t.transpose(r - 2, r - 1)?),
            Storage::Gpu(v) => Storage::Gpu(v.transposed(&self.shape)),
        };
        Ok(Tensor { shape, dtype: self.dtype, storage })
    }

    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary("add", rhs, Binary::Add)
    }

    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary("mul", rhs, Binary::Mul)
    }

    fn binary(&self, op: &'static str, rhs: &Tensor, kind: Binary) -> Result<Tensor> {
        same_device(op, self, rhs)?;
        need_f32(op, self)?;
        need_f32(op, rhs)?;
        broadcast_ok(op, &self.shape, &rhs.shape)?;
        match (&self.storage, &rhs.storage) {
            (Storage::Cpu(a), Storage::Cpu(b)) => cpu::binary(a, b, kind).map(Tensor::from_cpu),
            (Storage::Gpu(a), Storage::Gpu(b)) => Ok(Tensor::from_gpu(gpu::binary(a, &self.shape, b, &rhs.shape, kind)?, self.shape.clone())),
            _ => unreachable!("checked by same_device"),
        }
    }

    pub fn scale(&self, s: f32) -> Result<Tensor> {
        self.unary("scale", Unary::Scale(s))
    }

    /// GELU with the exact erf (BERT's `gelu`).
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary("gelu", Unary::Gelu)
    }

    /// GELU with the tanh approximation (GPT-2's `gelu_new`).
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        self.unary("gelu_tanh", Unary::GeluTanh)
    }

    pub fn silu(&self) -> Result<Tensor> {
        self.unary("silu", Unary::Silu)
    }

    pub fn tanh(&self) -> Result<Tensor> {
        self.unary("tanh", Unary::Tanh)
    }

    pub fn relu(&self) -> Result<Tensor> {
        self.unary("relu", Unary::Relu)
    }

    fn unary(&self, op: &'static str, kind: Unary) -> Result<Tensor> {
        need_f32(op, self)?;
        match &self.storage {
            Storage::Cpu(a) => cpu::unary(a, kind).map(Tensor::from_cpu),
            Storage::Gpu(a) => Ok(Tensor::from_gpu(gpu::unary(a, &self.shape, kind)?, self.shape.clone())),
        }
    }

    /// Softmax over the last dim, computed stably (the row max is subtracted).
    pub fn softmax(&self) -> Result<Tensor> {
        need_f32("softmax", self)?;
        last_dim("softmax", self)?;
        match &self.storage {
            Storage::Cpu(a) => cpu::softmax(a).map(Tensor::from_cpu),
            Storage::Gpu(a) => Ok(Tensor::from_gpu(gpu::softmax(a, &self.shape)?, self.shape.clone())),
        }
    }

    /// `(x - mean) / sqrt(var + eps) * gamma + beta` over the last dim `C`;
    /// `gamma`, `beta`: `[C]`.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        self.check_norm("layer_norm", gamma)?;
        self.check_norm("layer_norm", beta)?;
        match (&self.storage, &gamma.storage, &beta.storage) {
            (Storage::Cpu(x), Storage::Cpu(g), Storage::Cpu(b)) => cpu::layer_norm(x, g, Some(b), eps).map(Tensor::from_cpu),
            (Storage::Gpu(x), Storage::Gpu(g), Storage::Gpu(b)) => Ok(Tensor::from_gpu(gpu::norm(x, &self.shape, g, Some(b), eps)?, self.shape.clone())),
            _ => unreachable!("checked by check_norm"),
        }
    }

    /// `x / sqrt(mean(x^2) + eps) * gamma` over the last dim `C`; `gamma`: `[C]`.
    pub fn rms_norm(&self, gamma: &Tensor, eps: f32) -> Result<Tensor> {
        self.check_norm("rms_norm", gamma)?;
        match (&self.storage, &gamma.storage) {
            (Storage::Cpu(x), Storage::Cpu(g)) => cpu::layer_norm(x, g, None, eps).map(Tensor::from_cpu),
            (Storage::Gpu(x), Storage::Gpu(g)) => Ok(Tensor::from_gpu(gpu::norm(x, &self.shape, g, None, eps)?, self.shape.clone())),
            _ => unreachable!("checked by check_norm"),
        }
    }

    fn check_norm(&self, op: &'static str, param: &Tensor) -> Result<()> {
        same_device(op, self, param)?;
        need_f32(op, self)?;
        need_f32(op, param)?;
        let c = last_dim(op, self)?;
        if param.shape != [c] {
            return Err(Error::shapes(op, &self.shape, &param.shape, format!("the weight must be [{c}]")));
        }
        Ok(())
    }
}
