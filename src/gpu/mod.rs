//! The WebGPU backend (wgpu: WebGPU in the browser, Vulkan/Metal/DX12 natively):
//! adapter and device set-up within the adapter's limits, a buffer pool, a
//! pipeline cache, one command encoder shared by many dispatches, and an async
//! readback that works natively and in the browser.

mod adapter;
pub(crate) mod decoder;
pub(crate) mod kernels;
#[cfg(test)]
mod layout_tests;
pub(crate) mod nn;
pub(crate) mod ops;
mod pool;
pub(crate) mod qops;
pub(crate) mod train;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kinds::DType;
use crate::platform::now_ms;
pub use adapter::{adapter_summary, AdapterSummary, LimitsSummary};
use adapter::{request_adapter, summary_of};
use kernels::{Binding, Compiled, Kernel, Pipelines, Uniform, UNIFORM_BINDING};
use pool::{Pool, PooledBuffer};

/// Dispatches recorded before the encoder is submitted on its own.
const MAX_PENDING_DISPATCHES: u32 = 64;
/// The uniform buffer that holds one submission's parameter blocks, each at a
/// multiple of `minUniformBufferOffsetAlignment` (at most 256 bytes): room
/// for MAX_PENDING_DISPATCHES blocks of up to 256 bytes.
const UNIFORM_BUFFER_BYTES: usize = 64 * 512;
/// Bind groups kept for reuse before the cache starts again.
const MAX_BIND_GROUPS: usize = 4096;

/// A bind group's pipeline (its `Compiled`'s address) and `(binding, buffer id)`s.
type BindKey = (usize, Vec<(u32, u64)>);

/// Called with the reason when a device is lost (not when it is disposed).
type LostListener = Rc<dyn Fn(&str)>;

thread_local! {
    /// Each device's loss listeners, by device id. wgpu wants its device-lost
    /// callback `Send`, so the callback carries only the id and finds the
    /// listeners (JS functions, which are not `Send`) here. In the browser the
    /// callback runs on the thread that made the device; natively it may run
    /// elsewhere and find none (native callers read the error instead).
    static LOST_LISTENERS: RefCell<HashMap<u64, Vec<LostListener>>> = RefCell::new(HashMap::new());
}

static NEXT_DEVICE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What is recorded and not yet submitted: the encoder, the compute pass
/// open on it, and the recorded dispatches' parameter blocks.
#[derive(Default)]
struct Batch {
    // Declared before `encoder`: a pass is dropped (ended) before its encoder.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    uniforms: Vec<u8>,
    dispatches: u32,
}

/// Work done on a [`Gpu`] since it was made or since [`Gpu::reset_counters`]:
/// what each dispatch costs the host, to see where encoding time goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuCounters {
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Compute passes begun.
    pub compute_passes: u64,
    /// Command buffers submitted.
    pub submits: u64,
    /// `wgpu::Buffer`s created: pooled storage, uniforms, readback staging.
    pub buffers_created: u64,
    /// Bind groups created.
    pub bind_groups_created: u64,
    /// Bytes written from the host: tensor uploads and kernel parameters.
    pub bytes_uploaded: u64,
    /// The parameters' share of `bytes_uploaded` (with the gaps that align
    /// each block to `minUniformBufferOffsetAlignment`).
    pub uniform_bytes: u64,
    /// Host milliseconds spent recording dispatches and copies (bind groups,
    /// passes, parameters; not the pipelines' first compilation).
    pub encode_ms: f64,
    /// Host milliseconds in `queue.submit` (and writing the parameters).
    pub submit_ms: f64,
    /// Host milliseconds compiling pipelines (their first use).
    pub pipeline_ms: f64,
}

/// A WebGPU device and everything kept per device.
pub struct Gpu {
    summary: AdapterSummary,
    pub(crate) device: wgpu::Device,
    queue: wgpu::Queue,
    limits: wgpu::Limits,
    f16: bool,
    pool: Rc<RefCell<Pool>>,
    pipelines: Pipelines,
    batch: RefCell<Batch>,
    /// Every dispatch's parameters, at a dynamic offset (written once per submission).
    uniform: wgpu::Buffer,
    uniform_align: usize,
    bind_groups: RefCell<HashMap<BindKey, wgpu::BindGroup>>,
    /// The largest buffer a tensor may take: the binding limit, or less when
    /// lowered (tests use this to split weights without gigabyte tensors).
    binding_cap: Cell<u64>,
    /// The first validation error the device reported, and why it was lost:
    /// set by wgpu's callbacks, turned into `Err` at the next readback or sync.
    fault: Arc<Mutex<Option<Error>>>,
    counters: Cell<GpuCounters>,
    /// This device's key in `LOST_LISTENERS`.
    id: u64,
}

impl Drop for Gpu {
    fn drop(&mut self) {
        // `try_with`: the table may be gone already when a thread ends.
        let _ = LOST_LISTENERS.try_with(|l| l.borrow_mut().remove(&self.id));
    }
}

impl Gpu {
    pub async fn new() -> Result<Gpu> {
        let adapter = request_adapter().await?;
        let summary = summary_of(&adapter).await;
        let have = adapter.limits();
        // Ask for what the kernels need, and for the adapter's buffer sizes so
        // that big weights fit: nothing more.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: have.max_storage_buffer_binding_size,
            max_buffer_size: have.max_buffer_size,
            max_storage_buffers_per_shader_stage: have.max_storage_buffers_per_shader_stage.min(8),
            // The parameter blocks sit at multiples of this in one buffer: the
            // adapter's own (often below the default 256) packs them tighter.
            min_uniform_buffer_offset_alignment: have.min_uniform_buffer_offset_alignment,
            ..wgpu::Limits::downlevel_defaults()
        };
        let f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let required_features = if f16 { wgpu::Features::SHADER_F16 } else { wgpu::Features::empty() };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor { label: Some("webfm"), required_features, required_limits: limits.clone(), ..Default::default() })
            .await
            .map_err(|e| Error::DeviceRequest(e.to_string()))?;
        let fault = Arc::new(Mutex::new(None));
        let sink = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut f) = sink.lock() {
                f.get_or_insert(Error::GpuValidation(e.to_string()));
            }
        }));
        let sink = fault.clone();
        let id = NEXT_DEVICE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        device.set_device_lost_callback(move |reason, message| {
            let why = format!("{reason:?}: {message}");
            if let Ok(mut f) = sink.lock() {
                *f = Some(Error::DeviceLost(why.clone()));
            }
            // Cloned out first: a listener may add or remove listeners.
            let listeners = LOST_LISTENERS.with(|l| l.borrow().get(&id).cloned()).unwrap_or_default();
            for f in listeners {
                f(&why);
            }
        });
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("webfm.params"),
            size: UNIFORM_BUFFER_BYTES as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            fault,
            summary,
            device,
            queue,
            f16,
            pool: Rc::new(RefCell::new(Pool::default())),
            pipelines: Pipelines::default(),
            batch: RefCell::new(Batch::default()),
            uniform,
            uniform_align: (limits.min_uniform_buffer_offset_alignment as usize).max(16),
            bind_groups: RefCell::new(HashMap::new()),
            binding_cap: Cell::new(limits.max_storage_buffer_binding_size.min(limits.max_buffer_size)),
            limits,
            counters: Cell::new(GpuCounters::default()),
            id,
        })
    }

    /// Calls `f` with the reason when the device is lost (a driver reset, the
    /// GPU process gone, a test's [`lose`](Self::lose)); never for
    /// [`destroy`](Self::destroy) or a drop.
    pub fn on_lost(&self, f: impl Fn(&str) + 'static) {
        LOST_LISTENERS.with(|l| l.borrow_mut().entry(self.id).or_default().push(Rc::new(f)));
    }

    /// Destroys the device as a loss would (for tests of recovery): the
    /// listeners hear of it, and every later op fails with `Error::DeviceLost`.
    pub fn lose(&self) {
        if let Ok(mut f) = self.fault.lock() {
            *f = Some(Error::DeviceLost("destroyed by the test hook".into()));
        }
        self.device.destroy();
    }

    /// What was recorded and created since the last [`reset_counters`](Self::reset_counters).
    pub fn counters(&self) -> GpuCounters {
        let mut c = self.counters.get();
        c.buffers_created += self.pool.borrow().created;
        c
    }

    pub fn reset_counters(&self) {
        self.counters.set(GpuCounters::default());
        self.pool.borrow_mut().created = 0;
    }

    fn count(&self, f: impl FnOnce(&mut GpuCounters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    pub fn describe(&self) -> String {
        let s = &self.summary;
        let mut tags = vec![s.backend.clone(), s.device_type.clone()];
        if s.is_fallback_adapter {
            tags.push("fallback".into());
        }
        if self.f16 {
            tags.push("f16".into());
        }
        format!("{} [{}]", s.name, tags.join(", "))
    }

    /// Whether f16 storage buffers are usable (`shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.f16
    }

    /// Bytes held by live tensors.
    pub fn live_bytes(&self) -> u64 {
        self.pool.borrow().live_bytes
    }

    /// The most buffer bytes held at once (live and pooled) since [`reset_peak`](Self::reset_peak).
    pub fn peak_bytes(&self) -> u64 {
        self.pool.borrow().peak_bytes
    }

    pub fn reset_peak(&self) {
        let mut p = self.pool.borrow_mut();
        p.peak_bytes = p.live_bytes + p.free_bytes;
    }

    /// Destroys the device: every later op fails with `Error::DeviceLost`.
    pub fn destroy(&self) {
        LOST_LISTENERS.with(|l| l.borrow_mut().remove(&self.id));
        if let Ok(mut f) = self.fault.lock() {
            *f = Some(Error::DeviceLost("the device was disposed".into()));
        }
        *self.batch.borrow_mut() = Batch::default();
        self.bind_groups.borrow_mut().clear();
        self.pool.borrow_mut().trim();
        self.device.destroy();
    }

    /// Frees pooled buffers that no tensor uses.
    pub fn trim(&self) {
        self.pool.borrow_mut().trim();
    }

    /// Bytes one tensor's buffer may hold here: `maxStorageBufferBindingSize`
    /// (and `maxBufferSize`), unless lowered with [`Gpu::set_max_binding_bytes`].
    /// Weights larger than this are split into blocks of rows.
    pub fn max_binding_bytes(&self) -> u64 {
        self.binding_cap.get()
    }

    /// Lowers the per-buffer cap (never above the device's limit), so that the
    /// splitting of large weights can be tested with small ones.
    pub fn set_max_binding_bytes(&self, bytes: u64) {
        let device = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        self.binding_cap.set(bytes.clamp(256, device));
    }

    fn check_size(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
        let limit = self.binding_cap.get();
        if bytes > limit {
            return Err(Error::LimitExceeded { what: what(), needed: bytes, limit_name: "maxStorageBufferBindingSize", limit });
        }
        Ok(())
    }

    /// A buffer for `numel` elements of `dtype`, contents undefined.
    pub(crate) fn alloc(self: &Rc<Self>, numel: usize, dtype: DType) -> Result<GpuView> {
        self.check_alive()?;
        let bytes = (numel * dtype.size_in_bytes()) as u64;
        self.check_size(|| format!("a tensor of {numel} {} elements", dtype.name()), bytes)?;
        let cap = self.binding_cap.get();
        let buf = Pool::take(&self.pool, &self.device, pool::bucket(bytes, cap));
        Ok(GpuView { gpu: self.clone(), buf: Rc::new(buf), offset: 0, strides: None })
    }

    /// Copies `bytes` (`numel` elements of `dtype`) into a new buffer.
    pub(crate) fn upload(self: &Rc<Self>, bytes: &[u8], dtype: DType, numel: usize) -> Result<GpuView> {
        let view = self.alloc(numel, dtype)?;
        // A pooled buffer may still be read by recorded, unsubmitted dispatches;
        // submitting them first keeps this write after them.
        self.flush();
        self.count(|c| c.bytes_uploaded += bytes.len().div_ceil(4) as u64 * 4);
        let whole = bytes.len() / 4 * 4;
        self.queue.write_buffer(&view.buf.buffer, 0, &bytes[..whole]);
        if whole < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.queue.write_buffer(&view.buf.buffer, whole as u64, &tail);
        }
        Ok(view)
    }

    /// Records a copy of `numel` f32 values from the start of the contiguous
    /// view `src` to element `at` of `dst`, in order with the dispatches (the
    /// open compute pass ends; the next dispatch begins another).
    pub(crate) fn copy_into(&self, src: &GpuView, dst: &GpuView, at: usize, numel: usize) -> Result<()> {
        self.check_alive()?;
        if numel == 0 {
            return Ok(());
        }
        let t0 = now_ms();
        let mut batch = self.batch.borrow_mut();
        batch.pass.take();
        let encoder = batch.encoder.get_or_insert_with(|| self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("webfm.step") }));
        encoder.copy_buffer_to_buffer(src.buffer(), (src.offset * 4) as u64, dst.buffer(), ((dst.offset + at) * 4) as u64, (numel * 4) as u64);
        self.count(|c| c.encode_ms += now_ms() - t0);
        Ok(())
    }

    /// Records one dispatch of `kernel` into the open compute pass. `params`
    /// (the shader's parameter block) go to binding 0 from the submission's
    /// uniform buffer; `buffers` are the shader's storage bindings and the
    /// views bound there (whole buffers). Bind groups are reused while the
    /// same buffers come back.
    pub(crate) fn dispatch<P: Uniform>(&self, kernel: &Kernel, params: &P, buffers: &[(Binding, &GpuView)], groups: [u32; 3]) -> Result<()> {
        let entry = kernel.entry.name();
        let shader = kernel.shader();
        if shader.uniform_type() != std::any::TypeId::of::<P>() {
            return Err(Error::InvalidArgument(format!("{entry}: {} is not the parameter block of {}", P::NAME, shader.file())));
        }
        if let Some((b, _)) = buffers.iter().find(|(b, _)| b.shader != shader) {
            return Err(Error::InvalidArgument(format!("{entry}: binding {} of {} given to {}", b.index, b.shader.file(), shader.file())));
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::InvalidArgument(format!("{entry}: {groups:?} workgroups exceed this device's maxComputeWorkgroupsPerDimension ({max})")));
        }
        if groups.contains(&0) {
            return Ok(());
        }
        self.check_alive()?;
        let bytes = bytemuck::bytes_of(params);
        let t_pipe = now_ms();
        let bindings: Vec<Binding> = buffers.iter().map(|(b, _)| *b).collect();
        let compiled = self.pipelines.get(&self.device, kernel, self.f16, bytes.len() as u64, &bindings)?;
        self.count(|c| c.pipeline_ms += now_ms() - t_pipe);
        // The parameters' slot in this submission's uniform buffer; a full
        // buffer (or batch) is submitted first (timed as a submission).
        let align = self.uniform_align;
        let mut offset = self.batch.borrow().uniforms.len().div_ceil(align) * align;
        if offset + bytes.len() > UNIFORM_BUFFER_BYTES || self.batch.borrow().dispatches >= MAX_PENDING_DISPATCHES {
            self.flush();
            offset = 0;
        }
        let t0 = now_ms();
        let bind_group = self.bind_group(&compiled, bytes.len() as u64, buffers);
        let mut batch = self.batch.borrow_mut();
        batch.uniforms.resize(offset, 0);
        batch.uniforms.extend_from_slice(bytes);
        batch.dispatches += 1;
        let b = &mut *batch;
        let encoder = b.encoder.get_or_insert_with(|| self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("webfm.step") }));
        let new_pass = b.pass.is_none();
        let pass = b.pass.get_or_insert_with(|| {
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("webfm.pass"), timestamp_writes: None }).forget_lifetime()
        });
        pass.set_pipeline(&compiled.pipeline);
        pass.set_bind_group(0, &bind_group, &[offset as u32]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        drop(batch);
        self.count(|c| {
            c.dispatches += 1;
            c.compute_passes += new_pass as u64;
            c.encode_ms += now_ms() - t0;
        });
        Ok(())
    }

    /// The bind group of `compiled` over these buffers, from the cache or new.
    fn bind_group(&self, compiled: &Rc<Compiled>, uniform_size: u64, buffers: &[(Binding, &GpuView)]) -> wgpu::BindGroup {
        let mut cache = self.bind_groups.borrow_mut();
        let gone = self.pool.borrow_mut().take_destroyed();
        if !gone.is_empty() {
            cache.retain(|k, _| !k.1.iter().any(|(_, id)| gone.contains(id)));
        }
        let key: BindKey = (Rc::as_ptr(compiled) as usize, buffers.iter().map(|(b, v)| (b.index, v.buf.id)).collect());
        if let Some(bg) = cache.get(&key) {
            return bg.clone();
        }
        if cache.len() >= MAX_BIND_GROUPS {
            cache.clear();
        }
        let uniform = wgpu::BufferBinding { buffer: &self.uniform, offset: 0, size: wgpu::BufferSize::new(uniform_size) };
        let mut entries = vec![wgpu::BindGroupEntry { binding: UNIFORM_BINDING, resource: wgpu::BindingResource::Buffer(uniform) }];
        entries.extend(buffers.iter().map(|(b, v)| wgpu::BindGroupEntry { binding: b.index, resource: v.buffer().as_entire_binding() }));
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("webfm.bind"), layout: &compiled.layout, entries: &entries });
        self.count(|c| c.bind_groups_created += 1);
        cache.insert(key, bg.clone());
        bg
    }

    /// The error the device reported since it was made, if any. A lost device
    /// stays lost; a validation error is reported once.
    fn check_fault(&self) -> Result<()> {
        let mut f = self.fault.lock().map_err(|_| Error::DeviceLost("error state poisoned".into()))?;
        match f.take() {
            None => Ok(()),
            Some(Error::DeviceLost(m)) => {
                *f = Some(Error::DeviceLost(m.clone()));
                Err(Error::DeviceLost(m))
            }
            Some(e) => Err(e),
        }
    }

    /// Refuses new work on a lost device (wgpu may panic on some calls then).
    fn check_alive(&self) -> Result<()> {
        match self.fault.lock().as_deref() {
            Ok(Some(Error::DeviceLost(m))) => Err(Error::DeviceLost(m.clone())),
            _ => Ok(()),
        }
    }

    /// Submits the recorded dispatches, their parameters written first (one
    /// `write_buffer`, ordered after the previous submission's reads).
    pub(crate) fn flush(&self) {
        let mut batch = self.batch.borrow_mut();
        let t0 = now_ms();
        // Ending the pass records its dispatches into the encoder.
        batch.pass.take();
        if let Some(encoder) = batch.encoder.take() {
            let commands = encoder.finish();
            let t1 = now_ms();
            if !batch.uniforms.is_empty() {
                self.queue.write_buffer(&self.uniform, 0, &batch.uniforms);
            }
            self.queue.submit([commands]);
            // The bytes written: the blocks and the alignment gaps between them.
            let written = batch.uniforms.len() as u64;
            self.count(|c| {
                c.bytes_uploaded += written;
                c.uniform_bytes += written;
                c.submits += 1;
                c.encode_ms += t1 - t0;
                c.submit_ms += now_ms() - t1;
            });
        }
        batch.uniforms.clear();
        batch.dispatches = 0;
    }

    /// Waits until the queue is idle, without blocking the browser's event loop.
    pub async fn sync(&self) -> Result<()> {
        self.flush();
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.wait_native()?;
        rx.await.map_err(|_| Error::DeviceLost("the device went away before the queue finished".into()))?;
        self.check_fault()
    }

    /// A failed readback: `DeviceLost` when the device is (a lost device
    /// fails its mappings), else the readback's own error.
    fn readback_failed(&self, message: String) -> Error {
        match self.check_alive() {
            Err(lost) => lost,
            Ok(()) => Error::Readback(message),
        }
    }

    /// Natively, callbacks only run when the device is polled; in the browser
    /// they run from the event loop while we await.
    fn wait_native(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Readback(e.to_string()))?;
        Ok(())
    }

    /// Copies `bytes` bytes at `offset` of `src` back to the host.
    async fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let padded = bytes.div_ceil(4) * 4;
        if padded == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("webfm.readback"),
            size: padded,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.count(|c| {
            c.buffers_created += 1;
            c.submits += 1;
        });
        self.flush();
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("webfm.readback") });
        encoder.copy_buffer_to_buffer(src, offset, &staging, 0, padded);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait_native()?;
        rx.await.map_err(|_| Error::DeviceLost("the device went away during the readback".into()))?.map_err(|e| self.readback_failed(e.to_string()))?;
        let data = staging.get_mapped_range(..).map_err(|e| self.readback_failed(e.to_string()))?[..bytes as usize].to_vec();
        staging.unmap();
        staging.destroy();
        self.check_fault()?;
        Ok(data)
    }
}

/// A tensor's storage on the GPU: a pooled buffer, an element offset, and
/// strides in elements (`None`: contiguous row-major for the tensor's shape).
#[derive(Clone)]
pub(crate) struct GpuView {
    gpu: Rc<Gpu>,
    buf: Rc<PooledBuffer>,
    pub(crate) offset: usize,
    pub(crate) strides: Option<Vec<usize>>,
}

pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

impl GpuView {
    pub(crate) fn gpu(&self) -> Rc<Gpu> {
        self.gpu.clone()
    }
    pub(crate) fn same_gpu(&self, other: &GpuView) -> bool {
        Rc::ptr_eq(&self.gpu, &other.gpu)
    }
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }
    pub(crate) fn strides(&self, shape: &[usize]) -> Vec<usize> {
        self.strides.clone().unwrap_or_else(|| contiguous_strides(shape))
    }
    pub(crate) fn is_contiguous(&self, shape: &[usize]) -> bool {
        self.offset == 0 && self.strides.as_ref().is_none_or(|s| *s == contiguous_strides(shape))
    }
    /// The same buffer seen with another offset and strides (in elements).
    pub(crate) fn with_layout(&self, offset: usize, strides: Vec<usize>) -> GpuView {
        GpuView { offset, strides: Some(strides), ..self.clone() }
    }
    /// The same data with the last two dims swapped.
    pub(crate) fn transposed(&self, shape: &[usize]) -> GpuView {
        let mut strides = self.strides(shape);
        let r = strides.len();
        strides.swap(r - 2, r - 1);
        GpuView { strides: Some(strides), ..self.clone() }
    }
    /// Reads `numel` f32 values from a contiguous f32 view.
    pub(crate) async fn read_f32(&self, numel: usize) -> Result<Vec<f32>> {
        let bytes = self.gpu.read_bytes(&self.buf.buffer, (self.offset * 4) as u64, (numel * 4) as u64).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
