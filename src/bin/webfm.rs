//! The webfm command line: the same crate as the wasm build, run natively
//! (wgpu on Vulkan/Metal/DX12, or the CPU backend).

use std::process::ExitCode;
use std::str::FromStr;

use webfm::{Device, DeviceRequest, GemmKernel};

const USAGE: &str = "webfm: foundation models in the web page, from the command line

usage:
  webfm info                         the GPU adapter, its features and limits (JSON)
  webfm selftest [--device D] [--quick]
                                     every op against its reference; exit 1 on a failure
  webfm bench-gemm M K N [--device D] [--kernel tiled|naive] [--iters I] [--bt]
                                     GFLOP/s of [M, K] x [K, N] (JSON); --bt: B stored [N, K]

  D is auto (default), gpu or cpu. Every subcommand takes --help.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("webfm: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` options and positional arguments.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

const FLAGS: [&str; 3] = ["--quick", "--help", "--bt"];

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args { positional: Vec::new(), options: Vec::new() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || FLAGS.contains(&a.as_str()) {
            out.options.push((if a == "-h" { "--help".into() } else { a.clone() }, None));
        } else if a.starts_with("--") {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            out.options.push((a.clone(), Some(v.clone())));
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }
    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(k, _)| k == name)
    }
    fn check(&self, allowed: &[&str]) -> Result<(), String> {
        for (k, _) in &self.options {
            if !allowed.contains(&k.as_str()) && k != "--help" {
                return Err(format!("unknown option {k}"));
            }
        }
        Ok(())
    }
    fn device(&self) -> Result<Device, String> {
        let req = DeviceRequest::from_str(self.get("--device").unwrap_or("auto")).map_err(|e| e.to_string())?;
        pollster::block_on(Device::new(req)).map_err(|e| e.to_string())
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some((cmd, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let a = parse(rest)?;
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "info" => {
            if a.has("--help") {
                println!("usage: webfm info\n  prints the GPU adapter that --device gpu would use, as JSON");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&[])?;
            let info = pollster::block_on(webfm::gpu::adapter_summary()).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        "selftest" => {
            if a.has("--help") {
                println!("usage: webfm selftest [--device auto|gpu|cpu] [--quick]\n  runs every op on random inputs against its reference and prints the report as JSON");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&["--device", "--quick"])?;
            let device = a.device()?;
            let report = pollster::block_on(webfm::selftest::run(&device, a.has("--quick")));
            println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            eprintln!("{}: {} passed, {} failed", report.adapter, report.passed, report.failed);
            Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        "bench-gemm" => {
            if a.has("--help") {
                println!("usage: webfm bench-gemm M K N [--device auto|gpu|cpu] [--kernel tiled|naive] [--iters I] [--bt]\n  times [M, K] x [K, N] and prints GFLOP/s as JSON (tiled means the default choice: GEMV when M = 1);\n  --bt stores B as [N, K] (a linear layer's weight) and multiplies by its transposed view");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&["--device", "--kernel", "--iters", "--bt"])?;
            let dims: Vec<usize> = a.positional.iter().map(|s| s.parse::<usize>().map_err(|_| format!("not a size: {s:?}"))).collect::<Result<_, _>>()?;
            let [m, k, n] = dims[..] else {
                return Err("bench-gemm needs three sizes: M K N".into());
            };
            let kernel = match a.get("--kernel").unwrap_or("tiled") {
                "tiled" | "auto" => GemmKernel::Auto,
                "naive" => GemmKernel::Naive,
                other => return Err(format!("unknown kernel {other:?}: expected tiled or naive")),
            };
            let iters = a.get("--iters").map(|s| s.parse::<usize>().map_err(|_| format!("--iters: not a count: {s:?}"))).transpose()?.unwrap_or(3);
            let device = a.device()?;
            let r = pollster::block_on(webfm::bench::gemm(&device, m, k, n, kernel, iters, a.has("--bt"))).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}; try webfm --help")),
    }
}
