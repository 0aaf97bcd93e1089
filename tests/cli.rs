//! The `webfm` binary: JSON out, errors on stderr with a non-zero exit.

use std::process::Command;

fn webfm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_webfm")).args(args).output().expect("run webfm")
}

#[test]
fn bench_gemm_prints_json_for_each_device() {
    for device in ["cpu", "gpu"] {
        let out = webfm(&["bench-gemm", "33", "65", "17", "--device", device, "--iters", "1"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["m"], 33);
        assert!(v["gflops"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_qgemv_prints_json_for_each_device() {
    for device in ["cpu", "gpu"] {
        for bits in ["4", "8", "32"] {
            let out = webfm(&["bench-qgemv", "40", "64", "--bits", bits, "--device", device, "--iters", "1"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(v["gbPerS"].as_f64().unwrap() > 0.0 && v["n"] == 40, "{v}");
        }
    }
    let out = webfm(&["bench-qgemv", "40", "64", "--bits", "3"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--bits 3"));
}

#[test]
fn selftest_passes_on_the_cpu() {
    let out = webfm(&["selftest", "--device", "cpu", "--quick"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], 0);
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message() {
    for args in [&["bench-gemm", "1", "2"][..], &["bench-gemm", "1", "2", "x"], &["frobnicate"], &["selftest", "--device", "tpu"], &["selftest", "--bogus", "1"]] {
        let out = webfm(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("webfm: "), "{args:?}: {err}");
    }
    for cmd in ["info", "selftest", "bench-gemm"] {
        let out = webfm(&[cmd, "--help"]);
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("usage"), "{cmd} --help");
    }
}
