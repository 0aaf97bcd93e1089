//! Tensors: a shape, a dtype and storage on one device. The CPU device keeps a
//! `candle_core::Tensor`; the GPU device keeps a pooled `wgpu::Buffer` view.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuView};
use crate::kinds::{numel, DType};

/// What the caller asked for: `"auto"` takes WebGPU when an adapter exists and
/// the CPU otherwise; `"webgpu"` fails without an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceRequest {
    Auto,
    WebGpu,
    Cpu,
}

impl std::str::FromStr for DeviceRequest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DeviceRequest::Auto),
            "webgpu" | "gpu" | "wgpu" => Ok(DeviceRequest::WebGpu),
            "cpu" | "wasm" => Ok(DeviceRequest::Cpu),
            other => Err(Error::InvalidArgument(format!("unknown device {other:?}: expected \"auto\", \"webgpu\" or \"cpu\""))),
        }
    }
}

/// Where tensors live and ops run.
#[derive(Clone)]
pub enum Device {
    Cpu,
    Gpu(Rc<Gpu>),
}

impl Device {
    pub async fn new(req: DeviceRequest) -> Result<Device> {
        match req {
            DeviceRequest::Cpu => Ok(Device::Cpu),
            DeviceRequest::WebGpu => Ok(Device::Gpu(Rc::new(Gpu::new().await?))),
            DeviceRequest::Auto => match Gpu::new().await {
                Ok(gpu) => Ok(Device::Gpu(Rc::new(gpu))),
                Err(_) => Ok(Device::Cpu),
            },
        }
    }

    /// `"webgpu"` or `"cpu"`: the path that was picked.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "webgpu",
        }
    }

    /// One line for people: the path and, on the GPU, the adapter.
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => format!("cpu: candle-core ({})", if cfg!(target_arch = "wasm32") { "wasm simd128" } else { "native" }),
            Device::Gpu(g) => format!("webgpu: {}", g.describe()),
        }
    }

    /// Waits until all work queued on the device has finished.
    pub async fn sync(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Gpu(g) => g.sync().await,
        }
    }
}

#[derive(Clone)]
pub(crate) enum Storage {
    Cpu(candle_core::Tensor),
    Gpu(GpuView),
}

/// An n-dimensional array on a device. Cloning is cheap (shared storage).
#[derive(Clone)]
pub struct Tensor {
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) storage: Storage,
}

impl Tensor {
    /// Copies `data` onto `device` with the given shape.
    pub fn from_f32(device: &Device, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        check_len(data.len(), shape)?;
        let storage = match device {
            Device::Cpu => Storage::Cpu(candle_core::Tensor::from_slice(data, shape, &candle_core::Device::Cpu)?),
            Device::Gpu(g) => Storage::Gpu(g.upload(bytemuck::cast_slice(data), DType::F32, data.len())?),
        };
        Ok(Tensor { shape: shape.to_vec(), dtype: DType::F32, storage })
    }

    /// As [`from_f32`](Self::from_f32), taking the values: on the CPU they
    /// become the tensor's storage with no copy.
    pub fn from_f32_vec(device: &Device, data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        check_len(data.len(), shape)?;
        match device {
            Device::Cpu => Ok(Tensor {
                shape: shape.to_vec(),
                dtype: DType::F32,
                storage: Storage::Cpu(candle_core::Tensor::from_vec(data, shape, &candle_core::Device::Cpu)?),
            }),
            Device::Gpu(_) => Tensor::from_f32(device, &data, shape),
        }
    }

    /// Copies half-precision `data` onto `device`. A GPU without `shader-f16`
    /// keeps it as f32 instead (same values, twice the bytes).
    pub fn from_f16(device: &Device, data: &[half::f16], shape: &[usize]) -> Result<Tensor> {
        check_len(data.len(), shape)?;
        match device {
            Device::Cpu => {
                let t = candle_core::Tensor::from_slice(data, shape, &candle_core::Device::Cpu)?;
                Ok(Tensor { shape: shape.to_vec(), dtype: DType::F16, storage: Storage::Cpu(t) })
            }
            Device::Gpu(g) if g.has_f16() => {
                let view = g.upload(bytemuck::cast_slice(data), DType::F16, data.len())?;
                Ok(Tensor { shape: shape.to_vec(), dtype: DType::F16, storage: Storage::Gpu(view) })
            }
            Device::Gpu(_) => {
                let wide: Vec<f32> = data.iter().map(|v| v.to_f32()).collect();
                Tensor::from_f32(device, &wide, shape)
            }
        }
    }

    /// A GPU tensor from little-endian `bytes` of `dtype` (f16 needs `shader-f16`).
    pub(crate) fn from_gpu_bytes(g: &Rc<Gpu>, bytes: &[u8], dtype: DType, shape: &[usize]) -> Result<Tensor> {
        check_len(bytes.len() / dtype.size_in_bytes(), shape)?;
        let view = g.upload(bytes, dtype, numel(shape))?;
        Ok(Tensor { shape: shape.to_vec(), dtype, storage: Storage::Gpu(view) })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    pub fn device(&self) -> Device {
        match &self.storage {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Gpu(v) => Device::Gpu(v.gpu()),
        }
    }
    pub(crate) fn device_name(&self) -> &'static str {
        match &self.storage {
            Storage::Cpu(_) => "cpu",
            Storage::Gpu(_) => "webgpu",
        }
    }

    /// Reads the values back as f32, in row-major order. On the GPU this
    /// submits queued work and waits for it without blocking the page.
    pub async fn to_vec_f32(&self) -> Result<Vec<f32>> {
        match &self.storage {
            Storage::Cpu(_) => self.cpu_f32(),
            Storage::Gpu(v) => {
                let flat = crate::gpu::ops::contiguous_f32(v, &self.shape, self.dtype)?;
                flat.read_f32(self.numel()).await
            }
        }
    }
}

impl Tensor {
    /// A backend's f32 result on the GPU, contiguous with `shape`.
    pub(crate) fn from_gpu(view: GpuView, shape: Vec<usize>) -> Tensor {
        Tensor { shape, dtype: DType::F32, storage: Storage::Gpu(view) }
    }

    /// A backend's result on the CPU (candle keeps the shape and dtype).
    pub(crate) fn from_cpu(t: candle_core::Tensor) -> Tensor {
        let dtype = if t.dtype() == candle_core::DType::F16 { DType::F16 } else { DType::F32 };
        Tensor { shape: t.dims().to_vec(), dtype, storage: Storage::Cpu(t) }
    }

    /// The values of a CPU tensor as f32, row-major, without waiting (the
    /// CPU half of [`Tensor::to_vec_f32`], for ops that compute on the host).
    pub(crate) fn cpu_f32(&self) -> Result<Vec<f32>> {
        match &self.storage {
            Storage::Cpu(t) => Ok(t.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?),
            Storage::Gpu(_) => Err(Error::DeviceMismatch { op: "cpu_f32", lhs: "cpu", rhs: "webgpu" }),
        }
    }
}

fn check_len(len: usize, shape: &[usize]) -> Result<()> {
    let expected = numel(shape);
    if len != expected {
        return Err(Error::DataLength { len, shape: shape.to_vec(), expected });
    }
    Ok(())
}
