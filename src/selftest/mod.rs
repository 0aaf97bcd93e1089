//! The op test suite, shared by the native tests and the browser (through
//! `selfTest` in the wasm API): every op on random inputs, shapes with 1, 7,
//! 33, 257 and past 1024, under a named tolerance. On the CPU backend results
//! are checked against `reference`; on the GPU against the CPU backend.

use serde::Serialize;

mod backward;
mod base;
mod nn;

use crate::error::Result;
use crate::ops::tensor::{Device, Tensor};
use crate::rng::Rng;

/// A tolerance: `|got - want| <= abs + rel * |want|`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub name: &'static str,
    pub abs: f32,
    pub rel: f32,
}

/// Elementwise ops: one rounding each, plus the 1.5e-7 of the WGSL erf.
pub const ELEMENTWISE: Tol = Tol { name: "elementwise", abs: 1e-6, rel: 1e-5 };
/// Row reductions (softmax, norms) sum in different orders on each path.
pub const ROW_REDUCTION: Tol = Tol { name: "row-reduction", abs: 1e-5, rel: 1e-4 };

/// Attention: a dot product of D, a softmax and a weighted sum of V rows,
/// each summed in its own order on each path.
pub const ATTENTION: Tol = Tol { name: "attention", abs: 2e-5, rel: 1e-4 };
/// Backward kernels: products and row sums of the saved forward values.
pub const BACKWARD: Tol = Tol { name: "backward", abs: 1e-5, rel: 1e-4 };
/// AdamW: f32 arithmetic on moments against torch's formula in f64.
pub const OPTIMIZER: Tol = Tol { name: "optimizer", abs: 1e-6, rel: 1e-5 };

/// GEMM: f32 sums of K products grow their rounding error with K.
pub fn gemm_tol(k: usize) -> Tol {
    Tol { name: "gemm", abs: 1e-5 + 2e-7 * k as f32, rel: 1e-4 }
}

#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub device: String,
    pub adapter: String,
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<Case>,
}

/// Compares element by element; the detail names the first bad index and both values.
pub fn compare(name: &str, got: &[f32], want: &[f32], tol: Tol) -> Case {
    if got.len() != want.len() {
        return Case { name: name.into(), ok: false, detail: format!("length {} but expected {}", got.len(), want.len()) };
    }
    let mut bad = 0usize;
    let mut first = None;
    let mut max_err = 0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        // Written so that a NaN on either side is a failure.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(err <= tol.abs + tol.rel * w.abs()) {
            bad += 1;
            first.get_or_insert((i, g, w));
        }
        if err.is_finite() {
            max_err = max_err.max(err);
        }
    }
    let detail = match first {
        None => format!("{} values within {} tolerance (abs {:e}, rel {:e}); max abs error {max_err:e}", got.len(), tol.name, tol.abs, tol.rel),
        Some((i, g, w)) => format!(
            "{bad} of {} values outside {} tolerance (abs {:e}, rel {:e}); first at index {i}: got {g}, expected {w}",
            got.len(),
            tol.name,
            tol.abs,
            tol.rel
        ),
    };
    Case { name: name.into(), ok: first.is_none(), detail }
}

/// One input of a case: values, shape, and whether it is stored as f16.
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
    f16: bool,
}

impl Input {
    fn new(rng: &mut Rng, shape: &[usize], lo: f32, hi: f32) -> Input {
        Input { data: rng.uniform(shape.iter().product(), lo, hi), shape: shape.to_vec(), f16: false }
    }
    /// Values rounded to f16 so that every path sees the same numbers.
    fn half(mut self) -> Input {
        self.data = self.data.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        self.f16 = true;
        self
    }
    fn to_device(&self, device: &Device) -> Result<Tensor> {
        if self.f16 {
            let h: Vec<half::f16> = self.data.iter().map(|&v| half::f16::from_f32(v)).collect();
            Tensor::from_f16(device, &h, &self.shape)
        } else {
            Tensor::from_f32(device, &self.data, &self.shape)
        }
    }
}

/// An op under test: input tensors in, one or more outputs (compared as one
/// concatenated vector).
type Op<'a> = &'a dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>;
type Reference<'a> = &'a dyn Fn(&[Input]) -> Vec<f32>;

async fn eval(device: &Device, inputs: &[Input], op: Op<'_>) -> Result<Vec<f32>> {
    let tensors = inputs.iter().map(|i| i.to_device(device)).collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for t in op(&tensors)? {
        out.extend(t.to_vec_f32().await?);
    }
    Ok(out)
}

/// Runs one case of a single-output op: on the CPU against `reference`, on
/// the GPU against the CPU backend.
async fn case(device: &Device, name: String, inputs: &[Input], tol: Tol, op: &dyn Fn(&[Tensor]) -> Result<Tensor>, reference: Reference<'_>) -> Case {
    case_n(device, name, inputs, tol, &|t| Ok(vec![op(t)?]), reference).await
}

/// [`case`] for an op with several outputs, `reference` giving them concatenated.
async fn case_n(device: &Device, name: String, inputs: &[Input], tol: Tol, op: Op<'_>, reference: Reference<'_>) -> Case {
    let got = match eval(device, inputs, op).await {
        Ok(v) => v,
        Err(e) => return Case { name, ok: false, detail: format!("error: {e}") },
    };
    let want = match device {
        Device::Cpu => reference(inputs),
        Device::Gpu(_) => match eval(&Device::Cpu, inputs, op).await {
            Ok(v) => v,
            Err(e) => return Case { name, ok: false, detail: format!("CPU backend error: {e}") },
        },
    };
    compare(&name, &got, &want, tol)
}

/// The op families, so that native tests can run them one by one. Every
/// kernel family of `shaders/` is in one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Matmul,
    Elementwise,
    Softmax,
    Norm,
    QMatmul,
    /// Encoder self-attention with padding masks.
    EncoderAttention,
    /// Causal attention over a KV cache: prefill and decode steps, grouped KV heads.
    CausalAttention,
    Rope,
    /// Embedding rows from float and quantized tables in row blocks.
    Gather,
    /// Activation, softmax and norm backward, cross-entropy.
    Backward,
    AdamW,
}

pub const FAMILIES: [Family; 11] = [
    Family::Matmul,
    Family::Elementwise,
    Family::Softmax,
    Family::Norm,
    Family::QMatmul,
    Family::EncoderAttention,
    Family::CausalAttention,
    Family::Rope,
    Family::Gather,
    Family::Backward,
    Family::AdamW,
];

pub async fn run_family(device: &Device, family: Family, quick: bool) -> Vec<Case> {
    match family {
        Family::Matmul => base::matmul_cases(device, quick).await,
        Family::Elementwise => base::elementwise_cases(device, quick).await,
        Family::Softmax => base::softmax_cases(device, quick).await,
        Family::Norm => base::norm_cases(device, quick).await,
        Family::QMatmul => base::qmatmul_cases(device, quick).await,
        Family::EncoderAttention => nn::encoder_attention_cases(device, quick).await,
        Family::CausalAttention => nn::causal_attention_cases(device, quick).await,
        Family::Rope => nn::rope_cases(device, quick).await,
        Family::Gather => nn::gather_cases(device, quick).await,
        Family::Backward => backward::backward_cases(device, quick).await,
        Family::AdamW => backward::adamw_cases(device, quick).await,
    }
}

/// Every family on `device`.
pub async fn run(device: &Device, quick: bool) -> Report {
    let mut cases = Vec::new();
    for f in FAMILIES {
        cases.extend(run_family(device, f, quick).await);
    }
    let failed = cases.iter().filter(|c| !c.ok).count();
    Report { device: device.kind().into(), adapter: device.describe(), passed: cases.len() - failed, failed, cases }
}
