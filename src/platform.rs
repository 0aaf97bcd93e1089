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
