//! The wasm-bindgen API: thin and async. Values cross as typed arrays and
//! plain objects; every failure becomes a JS `Error` with a readable message.
//! Options objects are read into the structs of `options.rs`, so a misspelt
//! option is an error, never silently ignored.

mod fetch;
mod finetune;
mod generate;
mod hash;
mod model;
mod options;

use std::str::FromStr;

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::Error;
use crate::kinds::GemmKernel;
use crate::ops::tensor::{Device, DeviceRequest, Tensor as CoreTensor};

fn js_err(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

/// A JS `Error` for a promise's rejection: named `DeviceLost` when the GPU
/// device was lost, so a page can tell that from its own mistakes.
fn js_error(e: Error) -> JsValue {
    let lost = matches!(e, Error::DeviceLost(_));
    let v = js_sys::Error::new(&e.to_string());
    if lost {
        v.set_name("DeviceLost");
    }
    v.into()
}

/// `f(reason)` when `device` (a GPU) is lost; nothing on the CPU.
fn on_device_lost(device: &Device, f: js_sys::Function) {
    if let Device::Gpu(g) = device {
        g.on_lost(move |why| {
            let _ = f.call1(&JsValue::NULL, &why.into());
        });
    }
}

/// Bytes the device's live tensors hold (0 on the CPU).
fn gpu_bytes(device: &Device) -> u64 {
    match device {
        Device::Gpu(g) => g.live_bytes(),
        Device::Cpu => 0,
    }
}

/// Destroys the GPU device as a loss would (a test hook); nothing on the CPU.
fn lose_device(device: &Device) {
    if let Device::Gpu(g) = device {
        g.lose();
    }
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&format!("could not convert a result for JS: {e}")))
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The WebGPU adapter this page would use, with its features and limits, or
/// `{ available: false, reason }`.
#[wasm_bindgen(js_name = adapterInfo)]
pub async fn adapter_info() -> Result<JsValue, JsError> {
    match crate::gpu::adapter_summary().await {
        Ok(s) => {
            let v = to_js(&s)?;
            js_sys::Reflect::set(&v, &"available".into(), &true.into()).map_err(|_| JsError::new("adapterInfo: could not build the result"))?;
            Ok(v)
        }
        Err(e) => to_js(&serde_json::json!({ "available": false, "reason": e.to_string() })),
    }
}

/// The wasm heap now: `{ heapBytes, peakHeapBytes, wasmMemoryBytes }`:
/// bytes allocated and not yet freed, the most there were since the last
/// `resetPeak` (or the start), and the linear memory's size (it never
/// shrinks). For watching a long-lived page's memory.
#[wasm_bindgen(js_name = memoryStats)]
pub fn memory_stats(reset_peak: Option<bool>) -> Result<JsValue, JsError> {
    let (live, peak) = crate::platform::heap(reset_peak.unwrap_or(false));
    to_js(&serde_json::json!({ "heapBytes": live, "peakHeapBytes": peak, "wasmMemoryBytes": crate::platform::linear_memory_bytes() }))
}

/// A device (WebGPU or CPU) and the ops on it.
#[wasm_bindgen]
pub struct Context {
    device: Device,
}

/// A tensor on a context's device.
#[wasm_bindgen]
pub struct Tensor {
    inner: CoreTensor,
}

fn wrap(r: crate::Result<CoreTensor>) -> Result<Tensor, JsError> {
    r.map(|inner| Tensor { inner }).map_err(js_err)
}

#[wasm_bindgen]
impl Context {
    /// `"auto"` (WebGPU when there is an adapter, else the CPU), `"webgpu"` or `"cpu"`.
    pub async fn create(device: Option<String>) -> Result<Context, JsError> {
        let req = DeviceRequest::from_str(device.as_deref().unwrap_or("auto")).map_err(js_err)?;
        Ok(Context { device: Device::new(req).await.map_err(js_err)? })
    }

    /// `"webgpu"` or `"cpu"`: the path that was picked.
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.device.kind().into()
    }

    pub fn describe(&self) -> String {
        self.device.describe()
    }

    /// A tensor holding `data` with `shape` (row-major).
    pub fn tensor(&self, data: &[f32], shape: Vec<u32>) -> Result<Tensor, JsError> {
        let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
        wrap(CoreTensor::from_f32(&self.device, data, &shape))
    }

    pub fn matmul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.matmul(&b.inner))
    }
    pub fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.add(&b.inner))
    }
    pub fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.mul(&b.inner))
    }
    pub fn scale(&self, a: &Tensor, s: f32) -> Result<Tensor, JsError> {
        wrap(a.inner.scale(s))
    }
    pub fn gelu(&self, a: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.gelu())
    }
    pub fn silu(&self, a: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.silu())
    }
    pub fn softmax(&self, a: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.softmax())
    }
    pub fn transpose(&self, a: &Tensor) -> Result<Tensor, JsError> {
        wrap(a.inner.transpose())
    }
    #[wasm_bindgen(js_name = layerNorm)]
    pub fn layer_norm(&self, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor, JsError> {
        wrap(x.inner.layer_norm(&gamma.inner, &beta.inner, eps))
    }
    #[wasm_bindgen(js_name = rmsNorm)]
    pub fn rms_norm(&self, x: &Tensor, gamma: &Tensor, eps: f32) -> Result<Tensor, JsError> {
        wrap(x.inner.rms_norm(&gamma.inner, eps))
    }

    /// Releases the GPU device and its buffers now, rather than when the
    /// garbage collector gets to it. Later calls on this context fail.
    pub fn dispose(&self) {
        if let Device::Gpu(g) = &self.device {
            g.destroy();
        }
    }

    /// Resolves when all queued GPU work has finished.
    pub fn sync(&self) -> js_sys::Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            device.sync().await.map_err(|e| JsValue::from(js_err(e)))?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

#[wasm_bindgen]
impl Tensor {
    #[wasm_bindgen(getter)]
    pub fn shape(&self) -> Array {
        self.inner.shape().iter().map(|&d| JsValue::from(d as u32)).collect()
    }

    /// The values as a `Float32Array` (row-major); awaits the GPU.
    #[wasm_bindgen(js_name = toArray)]
    pub fn to_array(&self) -> js_sys::Promise {
        let t = self.inner.clone();
        future_to_promise(async move {
            let v = t.to_vec_f32().await.map_err(|e| JsValue::from(js_err(e)))?;
            Ok(Float32Array::from(v.as_slice()).into())
        })
    }
}

/// Runs the op suite on `"webgpu"` or `"cpu"`:
/// `{ device, adapter, passed, failed, cases: [{ name, ok, detail }] }`.
#[wasm_bindgen(js_name = selfTest)]
pub async fn self_test(device: String, quick: Option<bool>) -> Result<JsValue, JsError> {
    let device = Device::new(DeviceRequest::from_str(&device).map_err(js_err)?).await.map_err(js_err)?;
    let report = crate::selftest::run(&device, quick.unwrap_or(false)).await;
    to_js(&report)
}

/// Times `[m, k] x [k, n]`: `kernel` is `"tiled"` (the default kernel choice,
/// GEMV when `m == 1`) or `"naive"`; with `bt`, B is stored `[n, k]` (a
/// linear layer's weight) and used transposed.
#[wasm_bindgen(js_name = benchGemm)]
pub async fn bench_gemm(device: String, m: u32, k: u32, n: u32, kernel: Option<String>, iters: Option<u32>, bt: Option<bool>) -> Result<JsValue, JsError> {
    let device = Device::new(DeviceRequest::from_str(&device).map_err(js_err)?).await.map_err(js_err)?;
    let kernel = match kernel.as_deref().unwrap_or("tiled") {
        "tiled" | "auto" => GemmKernel::Auto,
        "naive" => GemmKernel::Naive,
        "gemv" => GemmKernel::Gemv,
        other => return Err(JsError::new(&format!("unknown kernel {other:?}: expected \"tiled\" or \"naive\""))),
    };
    let r = crate::bench::gemm(&device, m as usize, k as usize, n as usize, kernel, iters.unwrap_or(3) as usize, bt.unwrap_or(false)).await.map_err(js_err)?;
    to_js(&r)
}

/// Times one token through an `[n, k]` linear layer stored as `bits`-bit affine
/// codes (4 or 8, group `group`) or as f32 (`bits` = 32):
/// `{ device, format, n, k, ms, weightBytes, gbPerS }`.
#[wasm_bindgen(js_name = benchQGemv)]
pub async fn bench_qgemv(device: String, n: u32, k: u32, bits: u32, group: Option<u32>, iters: Option<u32>) -> Result<JsValue, JsError> {
    let device = Device::new(DeviceRequest::from_str(&device).map_err(js_err)?).await.map_err(js_err)?;
    let r = crate::bench::qgemv(&device, n as usize, k as usize, bits, group.unwrap_or(32) as usize, iters.unwrap_or(10) as usize).await.map_err(js_err)?;
    to_js(&r)
}
