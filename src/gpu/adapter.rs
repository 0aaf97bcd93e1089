//! The adapter: finding one within the backends this build may use, and the
//! summary of it that users see (name, vendor, features, limits).

use serde::Serialize;

use crate::error::{Error, Result};

/// What the adapter is and what it allows, as shown to users.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterSummary {
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub driver: String,
    pub backend: String,
    pub device_type: String,
    pub is_fallback_adapter: bool,
    pub features: Vec<String>,
    pub limits: LimitsSummary,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSummary {
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
}

fn summarize(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let l = adapter.limits();
    let f = adapter.features();
    let mut features = Vec::new();
    if f.contains(wgpu::Features::SHADER_F16) {
        features.push("shader-f16".to_string());
    }
    if f.contains(wgpu::Features::SUBGROUP) {
        features.push("subgroups".to_string());
    }
    let device_type = match info.device_type {
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Other => "other",
    };
    let name = if info.name.is_empty() { "unnamed adapter".to_string() } else { info.name.clone() };
    AdapterSummary {
        // In the browser `name` is often empty and the vendor is a string in `driver`.
        name,
        vendor: if info.vendor == 0 { info.driver_info.clone() } else { format!("{:#06x}", info.vendor) },
        architecture: String::new(),
        driver: info.driver.clone(),
        backend: format!("{:?}", info.backend).to_lowercase(),
        is_fallback_adapter: info.device_type == wgpu::DeviceType::Cpu,
        device_type: device_type.to_string(),
        features,
        limits: LimitsSummary {
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
        },
    }
}

/// The adapter's summary, completed in the browser from `GPUAdapterInfo`.
pub(super) async fn summary_of(adapter: &wgpu::Adapter) -> AdapterSummary {
    #[allow(unused_mut)]
    let mut s = summarize(adapter);
    #[cfg(target_arch = "wasm32")]
    if let Some(b) = crate::platform::browser_adapter().await {
        let named = [b.description.as_str(), &format!("{} {}", b.vendor, b.architecture)].iter().map(|x| x.trim().to_string()).find(|x| !x.is_empty());
        if let Some(name) = named {
            s.name = name;
        }
        s.vendor = b.vendor;
        s.architecture = b.architecture;
        s.is_fallback_adapter |= b.is_fallback_adapter;
        s.features = b.features;
    }
    s
}

pub(super) async fn request_adapter() -> Result<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = if cfg!(target_arch = "wasm32") { wgpu::Backends::BROWSER_WEBGPU } else { wgpu::Backends::PRIMARY };
    #[cfg(target_arch = "wasm32")]
    if !crate::platform::has_navigator_gpu() {
        return Err(Error::NoAdapter { reason: "navigator.gpu is missing in this browser or context".into() });
    }
    let instance = wgpu::Instance::new(desc);
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter { reason: e.to_string() })
}

/// The adapter that `Device::new(WebGpu)` would use, without creating a device.
pub async fn adapter_summary() -> Result<AdapterSummary> {
    Ok(summary_of(&request_adapter().await?).await)
}
