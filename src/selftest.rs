//! The op test suite, shared by the native tests and the browser (through
//! `selfTest` in the wasm API): every op on random inputs, shapes with 1, 7,
//! 33, 257 and past 1024, under a named tolerance. On the CPU backend results
//! are checked against `reference`; on the GPU against the CPU backend.

use serde::Serialize;

use crate::error::Result;
use crate::kinds::GemmKernel;
use crate::ops::reference as r;
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

type Op<'a> = &'a dyn Fn(&[Tensor]) -> Result<Tensor>;
type Reference<'a> = &'a dyn Fn(&[Input]) -> Vec<f32>;

async fn eval(device: &Device, inputs: &[Input], op: Op<'_>) -> Result<Vec<f32>> {
    let tensors = inputs.iter().map(|i| i.to_device(device)).collect::<Result<Vec<_>>>()?;
    op(&tensors)?.to_vec_f32().await
}

/// Runs one case: on the CPU against `reference`, on the GPU against the CPU backend.
async fn case(device: &Device, name: String, inputs: &[Input], tol: Tol, op: Op<'_>, reference: Reference<'_>) -> Case {
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

/// The op families, so that native tests can run them one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Matmul,
    Elementwise,
    Softmax,
    Norm,
    QMatmul,
}

pub const FAMILIES: [Family; 5] = [Family::Matmul, Family::Elementwise, Family::Softmax, Family::Norm, Family::QMatmul];

pub async fn run_family(device: &Device, family: Family, quick: bool) -> Vec<Case> {
    match family {
        Family::Matmul => matmul_cases(device, quick).await,
        Family::Elementwise => elementwise_cases(device, quick).await,
        Family::Softmax => softmax_cases(device, quick).await,
        Family::Norm => norm_cases(device, quick).await,
        Family::QMatmul => qmatmul_cases(device, quick).await,
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

fn mm_ref(i: &[Input]) -> Vec<f32> {
    r::matmul(&i[0].data, &i[0].shape, &i[1].data, &i[1].shape)
}

async fn matmul_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(1);
    let mut out = Vec::new();
    let mut mnk = vec![(1, 1, 1), (7, 33, 257), (33, 7, 1), (257, 33, 7), (64, 64, 64), (1, 1030, 33), (1, 257, 1031), (33, 1030, 7)];
    if !quick {
        mnk.extend([(1025, 7, 9), (1, 4096, 7)]);
    }
    for (m, k, n) in mnk {
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), Input::new(&mut rng, &[k, n], -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].matmul(&t[1]);
        out.push(case(device, format!("matmul [{m}, {k}] x [{k}, {n}]"), &inputs, gemm_tol(k), &op, &mm_ref).await);
    }
    // Batched, and an operand shared across the batch.
    for (a, b) in [(vec![2, 7, 33], vec![2, 33, 5]), (vec![3, 7, 33], vec![33, 5]), (vec![7, 33], vec![3, 33, 5]), (vec![2, 1, 65], vec![2, 65, 9])] {
        let inputs = [Input::new(&mut rng, &a, -1.0, 1.0), Input::new(&mut rng, &b, -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].matmul(&t[1]);
        out.push(case(device, format!("matmul {a:?} x {b:?}"), &inputs, gemm_tol(a[a.len() - 1]), &op, &mm_ref).await);
    }
    // Transposed operands are strided views, not copies: B stored [N, K] (a linear layer's weight), A stored [K, M].
    for (m, k, n) in [(7, 33, 257), (1, 257, 33), (2, 1030, 3)] {
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), Input::new(&mut rng, &[n, k], -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].matmul(&t[1].transpose()?);
        let reference = |i: &[Input]| r::matmul(&i[0].data, &i[0].shape, &r::transpose(&i[1].data, &i[1].shape), &[k, n]);
        out.push(case(device, format!("matmul [{m}, {k}] x ([{n}, {k}] transposed)"), &inputs, gemm_tol(k), &op, &reference).await);
    }
    {
        let (m, k, n) = (7, 33, 9);
        let inputs = [Input::new(&mut rng, &[k, m], -1.0, 1.0), Input::new(&mut rng, &[k, n], -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].transpose()?.matmul(&t[1]);
        let reference = |i: &[Input]| r::matmul(&r::transpose(&i[0].data, &i[0].shape), &[m, k], &i[1].data, &i[1].shape);
        out.push(case(device, format!("matmul ([{k}, {m}] transposed) x [{k}, {n}]"), &inputs, gemm_tol(k), &op, &reference).await);
    }
    // The vec4 kernels: 4-aligned inner dims, edges that are not multiples of the tile.
    for (m, k, n) in [(7, 36, 260), (1, 1032, 260), (9, 4, 4), (65, 64, 8)] {
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), Input::new(&mut rng, &[k, n], -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].matmul(&t[1]);
        out.push(case(device, format!("matmul vec4 [{m}, {k}] x [{k}, {n}]"), &inputs, gemm_tol(k), &op, &mm_ref).await);
    }
    for (m, k, n, f16) in [(7, 36, 257, false), (1, 1032, 33, false), (3, 260, 9, true), (1, 260, 9, true)] {
        let w = Input::new(&mut rng, &[n, k], -1.0, 1.0);
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), if f16 { w.half() } else { w }];
        let op = |t: &[Tensor]| t[0].matmul(&t[1].transpose()?);
        let reference = |i: &[Input]| r::matmul(&i[0].data, &i[0].shape, &r::transpose(&i[1].data, &i[1].shape), &[k, n]);
        let dt = if f16 { "f16 " } else { "" };
        out.push(case(device, format!("matmul vec4 [{m}, {k}] x ({dt}[{n}, {k}] transposed)"), &inputs, gemm_tol(k), &op, &reference).await);
    }
    for (a, b) in [(vec![2, 7, 36], vec![2, 36, 12]), (vec![2, 1, 36], vec![36, 12]), (vec![7, 36], vec![2, 36, 8])] {
        let inputs = [Input::new(&mut rng, &a, -1.0, 1.0), Input::new(&mut rng, &b, -1.0, 1.0)];
        let op = |t: &[Tensor]| t[0].matmul(&t[1]);
        out.push(case(device, format!("matmul vec4 {a:?} x {b:?}"), &inputs, gemm_tol(36), &op, &mm_ref).await);
    }
    // f16 storage for the right operand (weights).
    for (m, k, n) in [(7, 33, 257), (1, 257, 33), (7, 36, 260), (1, 36, 260)] {
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), Input::new(&mut rng, &[k, n], -1.0, 1.0).half()];
        let op = |t: &[Tensor]| t[0].matmul(&t[1]);
        out.push(case(device, format!("matmul [{m}, {k}] x f16 [{k}, {n}]"), &inputs, gemm_tol(k), &op, &mm_ref).await);
    }
    // Every GPU kernel forced, edges included (the CPU path ignores the choice).
    for (kernel, (m, k, n)) in [(GemmKernel::Naive, (33, 65, 7)), (GemmKernel::Tiled, (1, 33, 7)), (GemmKernel::Gemv, (1, 7, 1))] {
        let inputs = [Input::new(&mut rng, &[m, k], -1.0, 1.0), Input::new(&mut rng, &[k, n], -1.0, 1.0)];
        let op = move |t: &[Tensor]| t[0].matmul_with(&t[1], kernel);
        out.push(case(device, format!("matmul {kernel:?} [{m}, {k}] x [{k}, {n}]"), &inputs, gemm_tol(k), &op, &mm_ref).await);
    }
    out
}

async fn elementwise_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(2);
    let mut out = Vec::new();
    let mut sizes = vec![1, 7, 33, 257, 1031];
    if !quick {
        sizes.push(70_001);
    }
    for n in sizes {
        let inputs = [Input::new(&mut rng, &[n], -2.0, 2.0), Input::new(&mut rng, &[n], -2.0, 2.0)];
        out.push(case(device, format!("add [{n}]"), &inputs, ELEMENTWISE, &|t| t[0].add(&t[1]), &|i| r::add(&i[0].data, &i[1].data)).await);
        out.push(case(device, format!("mul [{n}]"), &inputs, ELEMENTWISE, &|t| t[0].mul(&t[1]), &|i| r::mul(&i[0].data, &i[1].data)).await);
        let x = [Input::new(&mut rng, &[n], -6.0, 6.0)];
        out.push(case(device, format!("scale [{n}]"), &x, ELEMENTWISE, &|t| t[0].scale(-0.37), &|i| r::scale(&i[0].data, -0.37)).await);
        out.push(case(device, format!("gelu [{n}]"), &x, ELEMENTWISE, &|t| t[0].gelu(), &|i| r::gelu(&i[0].data)).await);
        out.push(case(device, format!("gelu_tanh [{n}]"), &x, ELEMENTWISE, &|t| t[0].gelu_tanh(), &|i| r::gelu_tanh(&i[0].data)).await);
        out.push(case(device, format!("silu [{n}]"), &x, ELEMENTWISE, &|t| t[0].silu(), &|i| r::silu(&i[0].data)).await);
    }
    // A bias [C] broadcast over rows, and a per-column scale.
    for (x, y) in [([257, 33], [33]), ([7, 1031], [1031])] {
        let inputs = [Input::new(&mut rng, &x, -2.0, 2.0), Input::new(&mut rng, &y, -2.0, 2.0)];
        out.push(case(device, format!("add {x:?} + {y:?}"), &inputs, ELEMENTWISE, &|t| t[0].add(&t[1]), &|i| r::add(&i[0].data, &i[1].data)).await);
        out.push(case(device, format!("mul {x:?} * {y:?}"), &inputs, ELEMENTWISE, &|t| t[0].mul(&t[1]), &|i| r::mul(&i[0].data, &i[1].data)).await);
    }
    // A strided input (transposed view) goes through the copy kernel first.
    let x = [Input::new(&mut rng, &[33, 7], -4.0, 4.0)];
    let reference = |i: &[Input]| r::gelu(&r::transpose(&i[0].data, &i[0].shape));
    out.push(case(device, "gelu ([33, 7] transposed)".into(), &x, ELEMENTWISE, &|t| t[0].transpose()?.gelu(), &reference).await);
    out
}

async fn softmax_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(3);
    let mut out = Vec::new();
    let mut shapes = vec![vec![1, 1], vec![7, 33], vec![33, 257], vec![3, 1031], vec![2, 5, 7]];
    if !quick {
        shapes.push(vec![65_537, 3]); // more rows than one grid dimension holds
    }
    for shape in shapes {
        let x = [Input::new(&mut rng, &shape, -8.0, 8.0)];
        let cols = shape[shape.len() - 1];
        out.push(case(device, format!("softmax {shape:?}"), &x, ROW_REDUCTION, &|t| t[0].softmax(), &|i| r::softmax(&i[0].data, cols)).await);
    }
    // Stability: logits far from 0 must not overflow.
    let x = [Input { data: vec![1000.0, 999.0, 998.0, -1000.0, 3.0, -3.0, 0.0, 88.0, 89.0, 90.0], shape: vec![2, 5], f16: false }];
    out.push(case(device, "softmax [2, 5] large logits".into(), &x, ROW_REDUCTION, &|t| t[0].softmax(), &|i| r::softmax(&i[0].data, 5)).await);
    out
}

async fn norm_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(4);
    let mut out = Vec::new();
    let mut shapes = vec![vec![1, 1], vec![7, 33], vec![2, 257], vec![3, 1031], vec![2, 3, 7]];
    if !quick {
        shapes.push(vec![65_537, 3]);
    }
    for shape in shapes {
        let c = shape[shape.len() - 1];
        let inputs = [Input::new(&mut rng, &shape, -3.0, 5.0), Input::new(&mut rng, &[c], 0.5, 1.5), Input::new(&mut rng, &[c], -1.0, 1.0)];
        let ln = |t: &[Tensor]| t[0].layer_norm(&t[1], &t[2], 1e-5);
        let ln_ref = |i: &[Input]| r::layer_norm(&i[0].data, &i[1].data, &i[2].data, 1e-5);
        out.push(case(device, format!("layer_norm {shape:?}"), &inputs, ROW_REDUCTION, &ln, &ln_ref).await);
        let rms = |t: &[Tensor]| t[0].rms_norm(&t[1], 1e-6);
        let rms_ref = |i: &[Input]| r::rms_norm(&i[0].data, &i[1].data, 1e-6);
        out.push(case(device, format!("rms_norm {shape:?}"), &inputs[..2], ROW_REDUCTION, &rms, &rms_ref).await);
    }
    out
}

/// `x · Wᵀ` against 4- and 8-bit affine weights: on the CPU against the f64
/// reference over the dequantized weight, on the GPU against the CPU path.
async fn qmatmul_cases(device: &Device, quick: bool) -> Vec<Case> {
    use crate::quant::{dequantize, quantize};
    let mut rng = Rng::new(5);
    let mut out = Vec::new();
    let mut shapes =
        vec![(1, 32, 1, 4, 32), (1, 64, 7, 8, 32), (7, 128, 33, 4, 64), (33, 256, 9, 8, 128), (1, 1024, 257, 4, 32), (5, 96, 4, 4, 32), (2, 384, 65, 8, 64)];
    if !quick {
        shapes.extend([(1, 4096, 64, 4, 64), (64, 576, 40, 4, 32)]);
    }
    for (r, k, n, bits, group) in shapes {
        let name = format!("matmul_qt [{r}, {k}] x q{bits}/g{group} [{n}, {k}]^T");
        let qm = match quantize(&rng.uniform(n * k, -1.0, 1.0), n, k, bits, group) {
            Ok(q) => q,
            Err(e) => {
                out.push(Case { name, ok: false, detail: format!("quantize: {e}") });
                continue;
            }
        };
        let x = rng.uniform(r * k, -1.0, 1.0);
        let want = match device {
            Device::Cpu => r::matmul(&x, &[r, k], &r::transpose(&dequantize(&qm), &[n, k]), &[k, n]),
            Device::Gpu(_) => match run_qt(&Device::Cpu, &x, r, k, &qm).await {
                Ok(v) => v,
                Err(e) => {
                    out.push(Case { name, ok: false, detail: format!("CPU path error: {e}") });
                    continue;
                }
            },
        };
        let case = match run_qt(device, &x, r, k, &qm).await {
            Ok(got) => compare(&name, &got, &want, gemm_tol(k)),
            Err(e) => Case { name, ok: false, detail: format!("error: {e}") },
        };
        out.push(case);
    }
    out
}

async fn run_qt(device: &Device, x: &[f32], r: usize, k: usize, qm: &crate::quant::QuantizedMatrix) -> Result<Vec<f32>> {
    let w = crate::ops::quant::QTensor::new(device, qm)?;
    Tensor::from_f32(device, x, &[r, k])?.matmul_qt(&w)?.to_vec_f32().await
}
