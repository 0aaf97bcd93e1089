//! Every op on the CPU backend (against the plain reference) and on wgpu
//! (against the CPU backend), natively. On a machine without a GPU wgpu finds
//! Vulkan's software driver (lavapipe, `mesa-vulkan-drivers`).

use webfm::selftest::{run_family, Family};
use webfm::{Device, DeviceRequest};

fn gpu() -> Device {
    pollster::block_on(Device::new(DeviceRequest::WebGpu)).expect("no wgpu adapter: install mesa-vulkan-drivers (scripts/setup.sh does)")
}

fn check(device: &Device, family: Family) {
    let cases = pollster::block_on(run_family(device, family, false));
    assert!(!cases.is_empty());
    let failed: Vec<String> = cases.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    assert!(failed.is_empty(), "{family:?} on {}: {} of {} cases failed:\n{}", device.describe(), failed.len(), cases.len(), failed.join("\n"));
}

#[test]
fn matmul_cpu() {
    check(&Device::Cpu, Family::Matmul);
}
#[test]
fn matmul_gpu() {
    check(&gpu(), Family::Matmul);
}
#[test]
fn elementwise_cpu() {
    check(&Device::Cpu, Family::Elementwise);
}
#[test]
fn elementwise_gpu() {
    check(&gpu(), Family::Elementwise);
}
#[test]
fn softmax_cpu() {
    check(&Device::Cpu, Family::Softmax);
}
#[test]
fn softmax_gpu() {
    check(&gpu(), Family::Softmax);
}
#[test]
fn norm_cpu() {
    check(&Device::Cpu, Family::Norm);
}
#[test]
fn norm_gpu() {
    check(&gpu(), Family::Norm);
}

#[test]
fn qmatmul_cpu() {
    check(&Device::Cpu, Family::QMatmul);
}
#[test]
fn qmatmul_gpu() {
    check(&gpu(), Family::QMatmul);
}

/// The comparison itself must catch a wrong value and say where.
#[test]
fn compare_reports_the_first_bad_index_and_both_values() {
    let case = webfm::selftest::compare("t", &[1.0, 2.0, 3.5], &[1.0, 2.0, 3.0], webfm::selftest::ELEMENTWISE);
    assert!(!case.ok);
    assert!(case.detail.contains("index 2") && case.detail.contains("got 3.5") && case.detail.contains("expected 3"), "{}", case.detail);
    let nan = webfm::selftest::compare("t", &[f32::NAN], &[0.0], webfm::selftest::ELEMENTWISE);
    assert!(!nan.ok, "NaN must fail");
}

/// Pooled buffers come back: a second round of the same ops does not grow live memory.
#[test]
fn gpu_buffers_return_to_the_pool() {
    let device = gpu();
    let Device::Gpu(g) = &device else { unreachable!() };
    let before = g.live_bytes();
    {
        let a = webfm::Tensor::from_f32(&device, &[1.0; 64], &[8, 8]).unwrap();
        let c = a.matmul(&a).unwrap().gelu().unwrap();
        assert_eq!(pollster::block_on(c.to_vec_f32()).unwrap().len(), 64);
        assert!(g.live_bytes() > before);
    }
    assert_eq!(g.live_bytes(), before, "every tensor was dropped, so no buffer is live");
}

#[test]
fn encoder_attention_cpu() {
    check(&Device::Cpu, Family::EncoderAttention);
}
#[test]
fn encoder_attention_gpu() {
    check(&gpu(), Family::EncoderAttention);
}
#[test]
fn causal_attention_cpu() {
    check(&Device::Cpu, Family::CausalAttention);
}
#[test]
fn causal_attention_gpu() {
    check(&gpu(), Family::CausalAttention);
}
#[test]
fn rope_cpu() {
    check(&Device::Cpu, Family::Rope);
}
#[test]
fn rope_gpu() {
    check(&gpu(), Family::Rope);
}
#[test]
fn gather_cpu() {
    check(&Device::Cpu, Family::Gather);
}
#[test]
fn gather_gpu() {
    check(&gpu(), Family::Gather);
}
#[test]
fn backward_cpu() {
    check(&Device::Cpu, Family::Backward);
}
#[test]
fn backward_gpu() {
    check(&gpu(), Family::Backward);
}
#[test]
fn adamw_cpu() {
    check(&Device::Cpu, Family::AdamW);
}
#[test]
fn adamw_gpu() {
    check(&gpu(), Family::AdamW);
}

/// The registry covers every family, and `run` runs them all.
#[test]
fn the_suite_runs_every_family() {
    assert_eq!(webfm::selftest::FAMILIES.len(), 11);
    let report = pollster::block_on(webfm::selftest::run(&Device::Cpu, true));
    assert_eq!(report.failed, 0, "{:?}", report.cases.iter().filter(|c| !c.ok).collect::<Vec<_>>());
    for prefix in [
        "matmul",
        "add",
        "softmax",
        "layer_norm",
        "matmul_qt",
        "encoder attention",
        "causal attention",
        "rope",
        "gather",
        "Gelu backward",
        "cross_entropy",
        "adamw",
    ] {
        assert!(report.cases.iter().any(|c| c.name.starts_with(prefix)), "no case named {prefix}…");
    }
}
