//! Bad input gives an error that says what was wrong, never a panic.

use webfm::{DType, Device, DeviceRequest, Error, Tensor};

fn devices() -> Vec<Device> {
    vec![Device::Cpu, pollster::block_on(Device::new(DeviceRequest::WebGpu)).expect("no wgpu adapter")]
}

fn err<T>(r: webfm::Result<T>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn mismatched_matmul_names_both_shapes() {
    for d in devices() {
        let a = Tensor::from_f32(&d, &[0.0; 6], &[2, 3]).unwrap();
        let b = Tensor::from_f32(&d, &[0.0; 20], &[4, 5]).unwrap();
        let msg = err(a.matmul(&b)).to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4, 5]"), "{}: {msg}", d.kind());
        let v = Tensor::from_f32(&d, &[0.0; 3], &[3]).unwrap();
        let msg = err(a.matmul(&v)).to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[3]"), "{}: {msg}", d.kind());
        let a3 = Tensor::from_f32(&d, &[0.0; 12], &[2, 2, 3]).unwrap();
        let b3 = Tensor::from_f32(&d, &[0.0; 36], &[3, 3, 4]).unwrap();
        let msg = err(a3.matmul(&b3)).to_string();
        assert!(msg.contains("batch") && msg.contains("[2, 2, 3]") && msg.contains("[3, 3, 4]"), "{}: {msg}", d.kind());
    }
}

#[test]
fn mismatched_elementwise_and_norm_shapes_are_named() {
    for d in devices() {
        let a = Tensor::from_f32(&d, &[0.0; 6], &[2, 3]).unwrap();
        let b = Tensor::from_f32(&d, &[0.0; 2], &[2]).unwrap();
        let msg = err(a.add(&b)).to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[2]"), "{msg}");
        let msg = err(a.layer_norm(&b, &b, 1e-5)).to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[2]") && msg.contains("[3]"), "{msg}");
        let msg = err(a.rms_norm(&b, 1e-5)).to_string();
        assert!(msg.contains("rms_norm"), "{msg}");
    }
}

#[test]
fn dtype_mismatch_is_an_error() {
    for d in devices() {
        let a = Tensor::from_f32(&d, &[0.0; 4], &[2, 2]).unwrap();
        let h = Tensor::from_f16(&d, &[half::f16::ONE; 4], &[2, 2]).unwrap();
        // f16 is a storage type for the right operand of matmul (weights) only.
        assert!(a.matmul(&h).is_ok());
        if h.dtype() == DType::F16 {
            let msg = err(h.matmul(&a)).to_string();
            assert!(msg.contains("f16") && msg.contains("f32"), "{msg}");
            let msg = err(a.add(&h)).to_string();
            assert!(msg.contains("f16"), "{msg}");
        }
    }
}

#[test]
fn data_that_does_not_fit_its_shape_is_an_error() {
    for d in devices() {
        let msg = err(Tensor::from_f32(&d, &[0.0; 5], &[2, 3])).to_string();
        assert!(msg.contains("5") && msg.contains("[2, 3]") && msg.contains("6"), "{msg}");
    }
}

#[test]
fn operands_on_different_devices_are_an_error() {
    let ds = devices();
    let a = Tensor::from_f32(&ds[0], &[0.0; 4], &[2, 2]).unwrap();
    let b = Tensor::from_f32(&ds[1], &[0.0; 4], &[2, 2]).unwrap();
    let msg = err(a.matmul(&b)).to_string();
    assert!(msg.contains("cpu") && msg.contains("webgpu"), "{msg}");
}

#[test]
fn a_tensor_past_the_binding_limit_is_an_error_not_a_crash() {
    let d = &devices()[1];
    let Device::Gpu(g) = d else { unreachable!() };
    let limit = g.summary().limits.max_storage_buffer_binding_size as usize;
    // One f32 more than a binding may hold; `from_f32` checks before touching the data.
    let n = limit / 4 + 1;
    let data = vec![0f32; n];
    let msg = err(Tensor::from_f32(d, &data, &[n])).to_string();
    assert!(msg.contains("maxStorageBufferBindingSize"), "{msg}");
}

#[test]
fn unknown_device_names_are_errors() {
    let msg = "tpu".parse::<DeviceRequest>().unwrap_err().to_string();
    assert!(msg.contains("tpu") && msg.contains("webgpu"), "{msg}");
    assert_eq!("auto".parse::<DeviceRequest>().unwrap(), DeviceRequest::Auto);
}

#[test]
fn scalars_are_refused_by_row_ops() {
    let a = Tensor::from_f32(&Device::Cpu, &[1.0], &[]).unwrap();
    assert!(a.softmax().is_err());
    assert!(a.transpose().is_err());
}

#[test]
fn a_lost_device_gives_a_clear_error_and_the_cpu_still_works() {
    let d = pollster::block_on(Device::new(DeviceRequest::WebGpu)).unwrap();
    let Device::Gpu(g) = &d else { unreachable!() };
    let a = Tensor::from_f32(&d, &[1.0; 4], &[2, 2]).unwrap();
    g.destroy();
    let msg = match a.matmul(&a) {
        Err(e) => e.to_string(),
        Ok(c) => err(pollster::block_on(c.to_vec_f32())).to_string(),
    };
    assert!(msg.contains("lost"), "{msg}");
    let cpu = Tensor::from_f32(&Device::Cpu, &[1.0; 4], &[2, 2]).unwrap();
    assert_eq!(pollster::block_on(cpu.matmul(&cpu).unwrap().to_vec_f32()).unwrap(), vec![2.0; 4]);
}

#[test]
fn a_disposed_device_refuses_new_tensors() {
    let d = pollster::block_on(Device::new(DeviceRequest::WebGpu)).unwrap();
    let Device::Gpu(g) = &d else { unreachable!() };
    g.destroy();
    let msg = err(Tensor::from_f32(&d, &[1.0; 4], &[2, 2])).to_string();
    assert!(msg.contains("lost") && msg.contains("disposed"), "{msg}");
}

#[test]
fn quantized_matmul_checks_its_operands() {
    let q = webfm::quant::quantize(&[0.5; 2 * 64], 2, 64, 4, 32).unwrap();
    for d in devices() {
        let w = webfm::ops::quant::QTensor::new(&d, &q).unwrap();
        let x = Tensor::from_f32(&d, &[0.0; 3 * 32], &[3, 32]).unwrap();
        let msg = err(x.matmul_qt(&w)).to_string();
        assert!(msg.contains("[3, 32]") && msg.contains("[2, 64]"), "{msg}");
        let ok = Tensor::from_f32(&d, &[1.0; 64], &[1, 64]).unwrap().matmul_qt(&w).unwrap();
        assert_eq!(ok.shape(), &[1, 2]);
    }
    let bad = webfm::quant::quantize(&[0.5; 64], 1, 64, 3, 32);
    assert!(bad.is_err(), "3-bit is not a format we read");
}
