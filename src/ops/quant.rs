//! A quantized weight on a device, and `x · Wᵀ` against it without
//! dequantizing the whole matrix: on the CPU a group-wise loop, on the GPU the
//! fused kernels of `shaders/qmatmul.wgsl`.
//!
//! Legend: `R` rows of x (tokens), `K` in features, `N` out features.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::qops::QLayout;
use crate::gpu::GpuView;
use crate::kinds::{numel, DType};
use crate::ops::tensor::{Device, Storage, Tensor};
use crate::quant::QuantizedMatrix;

/// A `[N, K]` weight in the affine layout, on one device.
#[derive(Clone)]
pub struct QTensor {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) bits: u32,
    pub(crate) group: usize,
    pub(crate) storage: QStorage,
}

#[derive(Clone)]
pub(crate) enum QStorage {
    Cpu(Rc<QuantizedMatrix>),
    /// packed `[N, K*b/32]` u32, scales and biases `[N, K/G]` f32.
    Gpu {
        packed: GpuView,
        scales: GpuView,
        biases: GpuView,
    },
}

impl QTensor {
    pub fn new(device: &Device, m: &QuantizedMatrix) -> Result<QTensor> {
        crate::quant::affine::check_params(m.rows, m.cols, m.bits, m.group)?;
        let storage = match device {
            Device::Cpu => QStorage::Cpu(Rc::new(m.clone())),
            Device::Gpu(g) => QStorage::Gpu {
                packed: g.upload(bytemuck::cast_slice(&m.packed), DType::F32, m.packed.len())?,
                scales: g.upload(bytemuck::cast_slice(&m.scales), DType::F32, m.scales.len())?,
                biases: g.upload(bytemuck::cast_slice(&m.biases), DType::F32, m.biases.len())?,
            },
        };
        Ok(QTensor { rows: m.rows, cols: m.cols, bits: m.bits, group: m.group, storage })
    }

    /// `[N, K]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }
    pub fn bits(&self) -> u32 {
        self.bits
    }
    pub fn group(&self) -> usize {
        self.group
    }
}

/// From this many rows of x on, a quantized matmul on the CPU dequantizes
/// the weight into a temporary f32 matrix and runs candle's GEMM; one row (the
/// decode case) takes the fused group-wise loop. Measured on MiniLM 8-bit in
/// Chromium (bench/encoder): the fused loop made an 8-token sentence 92 ms,
/// dequantize + GEMM is what the f32 path costs plus one pass over the codes.
/// The GPU has its own switch (`gpu::qops::GPU_DEQUANT_ROWS`).
pub(crate) const DEQUANT_ROWS: usize = 2;

impl QTensor {
    /// The weights expanded to an f32 `[rows, cols]` tensor on their device.
    pub fn dequantize(&self) -> Result<Tensor> {
        let shape = vec![self.rows, self.cols];
        match &self.storage {
            QStorage::Cpu(m) => Tensor::from_f32(&crate::ops::tensor::Device::Cpu, &crate::quant::dequantize(m), &shape),
            QStorage::Gpu { packed, scales, biases } => {
                let gpu = packed.gpu();
                let v = crate::gpu::nn::dequantize(&gpu, packed, scales, biases, self.bits, self.group, self.rows, self.cols)?;
                Ok(Tensor::from_gpu(v, shape))
            }
        }
    }
}

impl Tensor {
    /// `x [.., R, K] · Wᵀ -> [.., R, N]` for a quantized `W [N, K]` (a linear layer).
    pub fn matmul_qt(&self, w: &QTensor) -> Result<Tensor> {
        let k = *self.shape.last().unwrap_or(&0);
        if self.shape.is_empty() || k != w.cols {
            return Err(Error::shapes("matmul_qt", &self.shape, &w.shape(), format!("x's last dim must be the weight's in features ({})", w.cols)));
        }
        if self.dtype != DType::F32 {
            return Err(Error::DType { op: "matmul_qt", got: self.dtype.name(), expected: "f32" });
        }
        let mut out_shape = self.shape.clone();
        *out_shape.last_mut().expect("checked non-empty") = w.rows;
        let rows = numel(&self.shape) / k.max(1);
        match (&self.storage, &w.storage) {
            (Storage::Cpu(x), QStorage::Cpu(m)) if rows >= DEQUANT_ROWS => {
                // Many rows: dequantizing once (N·K) is cheap next to the GEMM (R·N·K),
                // and candle's GEMM is far faster than the group-wise loop.
                let w = candle_core::Tensor::from_vec(crate::quant::dequantize(m), (w.rows, w.cols), &candle_core::Device::Cpu)?;
                let y = x.reshape((rows, k))?.matmul(&w.t()?)?.reshape(out_shape.as_slice())?;
                Ok(Tensor::from_cpu(y))
            }
            (Storage::Cpu(x), QStorage::Cpu(m)) => {
                let xs = x.flatten_all()?.to_vec1::<f32>()?;
                let y = matmul_qt_cpu(&xs, rows, m);
                Ok(Tensor {
                    shape: out_shape.clone(),
                    dtype: DType::F32,
                    storage: Storage::Cpu(candle_core::Tensor::from_vec(y, out_shape, &candle_core::Device::Cpu)?),
                })
            }
            (Storage::Gpu(x), QStorage::Gpu { packed, scales, biases }) => {
                let layout = QLayout { rows: w.rows, cols: w.cols, bits: w.bits, group: w.group };
                let y = crate::gpu::qops::matmul_qt(x, &self.shape, rows, layout, [packed, scales, biases])?;
                Ok(Tensor::from_gpu(y, out_shape))
            }
            _ => Err(Error::DeviceMismatch {
                op: "matmul_qt",
                lhs: self.device_name(),
                rhs: if matches!(w.storage, QStorage::Cpu(_)) { "cpu" } else { "webgpu" },
            }),
        }
    }
}

/// `y [R, N] = x [R, K] · Wᵀ`, dequantizing on the fly: `Σ (scale·code +
/// bias)·x` over a row, with one 16-lane accumulator per output that is
/// summed once at the end (not once per group: with K = 576 and groups of
/// 32 that per-group reduction cost more than the products).
///
/// The codes are read 16 bytes at a time in a form the compiler turns into
/// SIMD (wasm simd128, SSE/NEON): bytes are split with one mask and one
/// shift for every lane alike and widened to f32. For 4 bits, byte `b` holds
/// codes `2b` (low nibble) and `2b + 1` (high nibble), so x is first
/// reordered per 32 codes into the 16 even and then the 16 odd positions
/// (once per row of x, shared by all N outputs).
pub fn matmul_qt_cpu(x: &[f32], rows: usize, m: &QuantizedMatrix) -> Vec<f32> {
    let (n, k, g) = (m.rows, m.cols, m.group);
    let (wpr, gpr) = (m.words_per_row(), m.groups_per_row());
    let bytes_per_group = wpr * 4 / gpr.max(1);
    let xs: Vec<f32> = if m.bits == 4 { x.chunks_exact(32).flat_map(|c| (0..32).map(move |i| c[(i % 16) * 2 + i / 16])).collect() } else { x.to_vec() };
    let packed: &[u8] = bytemuck::cast_slice(&m.packed);
    let mut y = vec![0f32; rows * n];
    for j in 0..n {
        let bytes = &packed[j * wpr * 4..(j + 1) * wpr * 4];
        let (scales, biases) = (&m.scales[j * gpr..(j + 1) * gpr], &m.biases[j * gpr..(j + 1) * gpr]);
        for r in 0..rows {
            let xr = &xs[r * k..(r + 1) * k];
            let mut acc = [0f32; 16];
            for q in 0..gpr {
                let b = &bytes[q * bytes_per_group..(q + 1) * bytes_per_group];
                let xg = &xr[q * g..(q + 1) * g];
                if m.bits == 4 {
                    dot4(&mut acc, b, xg, scales[q], biases[q]);
                } else {
                    dot8(&mut acc, b, xg, scales[q], biases[q]);
                }
            }
            y[r * n + j] = acc.iter().sum();
        }
    }
    y
}

/// `acc += (s·code + b)·x` over 4-bit codes, 16 bytes (32 codes) at a time;
/// `x` reordered as in [`matmul_qt_cpu`].
#[inline]
fn dot4(acc: &mut [f32; 16], bytes: &[u8], x: &[f32], s: f32, b: f32) {
    for (c, xs) in bytes.chunks_exact(16).zip(x.chunks_exact(32)) {
        for i in 0..16 {
            acc[i] += ((c[i] & 15) as f32 * s + b) * xs[i] + ((c[i] >> 4) as f32 * s + b) * xs[16 + i];
        }
    }
}

/// `acc += (s·code + b)·x` over 8-bit codes (byte `i` is code `i`), 16 at a time.
#[inline]
fn dot8(acc: &mut [f32; 16], bytes: &[u8], x: &[f32], s: f32, b: f32) {
    for (c, xs) in bytes.chunks_exact(16).zip(x.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += (c[i] as f32 * s + b) * xs[i];
        }
    }
}
