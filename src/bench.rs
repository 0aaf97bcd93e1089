//! Benchmarks shared by the CLI (`webfm bench-gemm`) and the browser
//! (`benchGemm`): the same code times the same kernels on every path.

use serde::Serialize;

use crate::error::Result;
use crate::ops::GemmKernel;
use crate::platform::now_ms;
use crate::selftest::Rng;
use crate::tensor::{Device, Tensor};

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
