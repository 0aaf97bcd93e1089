//! The few things that differ between the browser and a native process:
//! a clock, whether `navigator.gpu` exists, and how much memory is left.

#[cfg(target_arch = "wasm32")]
mod alloc;

/// wasm32's linear memory can grow to 4 GiB and no further.
#[cfg(target_arch = "wasm32")]
const WASM32_MEMORY: u64 = 4 << 30;

/// `(live, peak)` bytes of the wasm heap (`reset_peak` starts the peak again
/// from now); natively not counted: `(0, 0)`.
pub fn heap(reset_peak: bool) -> (usize, usize) {
    #[cfg(target_arch = "wasm32")]
    return alloc::heap(reset_peak);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = reset_peak;
        (0, 0)
    }
}

/// wasm32 linear memory in bytes: it only grows, so this is the heap's
/// high-water mark (0 natively).
pub fn linear_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) as u64 * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

/// Bytes this process may still allocate on the CPU: in wasm32, 4 GiB less
/// the heap's live bytes; natively no limit is known (`None`).
pub fn memory_left() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    return Some(WASM32_MEMORY.saturating_sub(alloc::heap(false).0 as u64));
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// Milliseconds from an arbitrary origin, for timing.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Milliseconds from the page's time origin (`performance.now()`), in a
/// window or a Worker alike.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    perf.and_then(|p| {
        let now = js_sys::Reflect::get(&p, &"now".into()).ok()?;
        let f: &js_sys::Function = now.dyn_ref()?;
        f.call0(&p).ok()?.as_f64()
    })
    .unwrap_or_else(js_sys::Date::now)
}

/// Whether `navigator.gpu` is there (a window or a Worker with WebGPU).
#[cfg(target_arch = "wasm32")]
pub(crate) fn has_navigator_gpu() -> bool {
    let nav = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    if nav.is_undefined() || nav.is_null() {
        return false;
    }
    let gpu = js_sys::Reflect::get(&nav, &"gpu".into()).unwrap_or_default();
    !(gpu.is_undefined() || gpu.is_null())
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export async function webfm_browser_adapter() {
  const gpu = globalThis.navigator && globalThis.navigator.gpu;
  const adapter = gpu ? await gpu.requestAdapter({ powerPreference: "high-performance" }) : null;
  if (!adapter) return null;
  const info = adapter.info || {};
  return {
    vendor: info.vendor || "",
    architecture: info.architecture || "",
    description: info.description || "",
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    features: Array.from(adapter.features || []).sort(),
  };
}
"#)]
extern "C" {
    async fn webfm_browser_adapter() -> wasm_bindgen::JsValue;
}

/// What the browser itself says of its adapter (`GPUAdapterInfo`, the full
/// feature list): wgpu's WebGPU backend passes on only part of it.
#[cfg(target_arch = "wasm32")]
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BrowserAdapter {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    pub is_fallback_adapter: bool,
    pub features: Vec<String>,
}

#[cfg(target_arch = "wasm32")]
pub(crate) async fn browser_adapter() -> Option<BrowserAdapter> {
    serde_wasm_bindgen::from_value(webfm_browser_adapter().await).ok()
}
