//! The forward families of the op suite: matmul (every GEMM kernel, strided
//! and f16 operands), elementwise ops, softmax, the norms, quantized matmul.

use super::{case, compare, gemm_tol, Case, Input, ELEMENTWISE, ROW_REDUCTION};
use crate::error::Result;
use crate::kinds::GemmKernel;
use crate::ops::reference as r;
use crate::ops::tensor::{Device, Tensor};
use crate::rng::Rng;

fn mm_ref(i: &[Input]) -> Vec<f32> {
    r::matmul(&i[0].data, &i[0].shape, &i[1].data, &i[1].shape)
}

pub(super) async fn matmul_cases(device: &Device, quick: bool) -> Vec<Case> {
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

pub(super) async fn elementwise_cases(device: &Device, quick: bool) -> Vec<Case> {
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

pub(super) async fn softmax_cases(device: &Device, quick: bool) -> Vec<Case> {
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

pub(super) async fn norm_cases(device: &Device, quick: bool) -> Vec<Case> {
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
pub(super) async fn qmatmul_cases(device: &Device, quick: bool) -> Vec<Case> {
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
