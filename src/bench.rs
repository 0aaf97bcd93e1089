//! Benchmarks shared by the CLI (`webfm bench-gemm`) and the browser
//! (`benchGemm`): the same code times the same kernels on every path.

use serde::Serialize;

use crate::error::Result;
use crate::kinds::GemmKernel;
use crate::ops::tensor::{Device, Tensor};
use crate::platform::now_ms;
use crate::rng::Rng;

#[derive(Clone, Debug, Serialize)]
pub struct GemmResult {
    pub device: String,
    pub adapter: String,
    pub kernel: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// B stored `[N, K]` and used transposed (a linear layer's weight).
    pub bt: bool,
    pub iters: usize,
    /// Milliseconds per multiplication, the upload excluded.
    pub ms: f64,
    pub gflops: f64,
}

/// Times `iters` multiplications `[m, k] x [k, n]` after one warm-up (which
/// compiles the pipeline); GPU timings wait for the queue to drain. With `bt`
/// B is stored `[n, k]` and used as a transposed view.
pub async fn gemm(device: &Device, m: usize, k: usize, n: usize, kernel: GemmKernel, iters: usize, bt: bool) -> Result<GemmResult> {
    let mut rng = Rng::new(7);
    let a = Tensor::from_f32(device, &rng.uniform(m * k, -1.0, 1.0), &[m, k])?;
    let b = if bt {
        Tensor::from_f32(device, &rng.uniform(k * n, -1.0, 1.0), &[n, k])?.transpose()?
    } else {
        Tensor::from_f32(device, &rng.uniform(k * n, -1.0, 1.0), &[k, n])?
    };
    let iters = iters.max(1);
    drop(a.matmul_with(&b, kernel)?);
    device.sync().await?;
    let t0 = now_ms();
    for _ in 0..iters {
        drop(a.matmul_with(&b, kernel)?);
    }
    device.sync().await?;
    let ms = (now_ms() - t0) / iters as f64;
    let name = match (device, kernel) {
        (Device::Cpu, _) => "candle".to_string(),
        (_, GemmKernel::Auto) if m == 1 => "gemv".to_string(),
        (_, GemmKernel::Auto) => "tiled".to_string(),
        (_, k) => format!("{k:?}").to_lowercase(),
    };
    Ok(GemmResult {
        device: device.kind().into(),
        adapter: device.describe(),
        kernel: name,
        m,
        k,
        n,
        bt,
        iters,
        ms,
        gflops: 2.0 * (m * k * n) as f64 / (ms * 1e6),
    })
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QGemvResult {
    pub device: String,
    pub adapter: String,
    /// `"q4"`, `"q8"` (affine, group `group`) or `"f32"`.
    pub format: String,
    pub group: usize,
    pub n: usize,
    pub k: usize,
    pub iters: usize,
    pub ms: f64,
    /// Weight bytes read per multiplication (codes, scales and biases as stored on the device).
    pub weight_bytes: usize,
    /// `weight_bytes / time`: the effective weight bandwidth.
    pub gb_per_s: f64,
}

/// Times one token `[1, k]` through an `[n, k]` linear layer stored as
/// `bits`-bit affine codes (group `group`), or as f32 when `bits` is 32.
pub async fn qgemv(device: &Device, n: usize, k: usize, bits: u32, group: usize, iters: usize) -> Result<QGemvResult> {
    let mut rng = Rng::new(11);
    let x = Tensor::from_f32(device, &rng.uniform(k, -1.0, 1.0), &[1, k])?;
    let w = rng.uniform(n * k, -1.0, 1.0);
    let iters = iters.max(1);
    let (run, weight_bytes): (Box<dyn Fn() -> Result<Tensor>>, usize) = if bits == 32 {
        let wt = Tensor::from_f32(device, &w, &[n, k])?.transpose()?;
        let x = x.clone();
        (Box::new(move || x.matmul(&wt)), n * k * 4)
    } else {
        let q = crate::quant::quantize(&w, n, k, bits, group)?;
        let bytes = q.packed.len() * 4 + (q.scales.len() + q.biases.len()) * 4;
        let qt = crate::ops::quant::QTensor::new(device, &q)?;
        let x = x.clone();
        (Box::new(move || x.matmul_qt(&qt)), bytes)
    };
    drop(run()?);
    device.sync().await?;
    let t0 = now_ms();
    for _ in 0..iters {
        drop(run()?);
    }
    device.sync().await?;
    let ms = (now_ms() - t0) / iters as f64;
    Ok(QGemvResult {
        device: device.kind().into(),
        adapter: device.describe(),
        format: if bits == 32 { "f32".into() } else { format!("q{bits}") },
        group,
        n,
        k,
        iters,
        ms,
        weight_bytes,
        gb_per_s: weight_bytes as f64 / (ms * 1e6),
    })
}
