//! The few things that differ between the browser and a native process:
//! a clock, and whether `navigator.gpu` exists.

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
