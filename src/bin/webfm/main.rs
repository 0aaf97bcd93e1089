//! The webfm command line: the same crate as the wasm build, run natively
//! (wgpu on Vulkan/Metal/DX12, or the CPU backend).

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

use webfm::tasks::convert as convert_hf;
use webfm::weights::convert::{self, Options};
use webfm::weights::gguf::Gguf;
use webfm::weights::inspect;
use webfm::weights::safetensors::{header_size, Header};
use webfm::weights::shards::{ShardIndex, INDEX_FILE};
use webfm::{Device, DeviceRequest, GemmKernel};

mod finetune;
mod infer;

use infer::{encoder_command, generate_command, CLASSIFY_HELP, EMBED_HELP, GENERATE_HELP};

const USAGE: &str = "webfm: foundation models in the web page, from the command line

usage:
  webfm info                         the GPU adapter, its features and limits (JSON)
  webfm selftest [--device D] [--quick]
                                     every op against its reference; exit 1 on a failure
  webfm bench-gemm M K N [--device D] [--kernel tiled|naive] [--iters I] [--bt]
                                     GFLOP/s of [M, K] x [K, N] (JSON); --bt: B stored [N, K]
  webfm bench-qgemv N K [--bits 4|8|32] [--group G] [--device D] [--iters I]
                                     one token through an [N, K] linear layer, GB/s of weights (JSON)
  webfm bench-finetune <model-folder> [--batch B] [--tokens T] [--steps N] [--method M] [--device D]
                                     training examples/s on synthetic examples, peak GPU memory (JSON)
  webfm inspect <file.safetensors | file.gguf | folder> [--json]
                                     tensors, dtypes, shapes, bytes, quantization, totals
  webfm convert <file.gguf | hf-folder> <out-folder> [--bits 4|8] [--group 32|64|128]
                                     a folder Model.load takes: config, tokenizer, quantized safetensors

  webfm embed <model-folder> [--device D] [--bits 4|8] [--pooling mean|cls] [--no-normalize]
                                     texts from stdin, one per line -> {\"text\", \"ids\", \"embedding\"} per line
  webfm classify <model-folder> [--device D] [--bits 4|8] [--top-k N] [--labels a,b,c] [--template T] [--adapter DIR]
                                     texts from stdin -> {\"text\", \"labels\": [{\"label\", \"score\"}]} per line

  webfm generate <model-folder> --prompt TEXT [--chat] [--max-new-tokens N] [--greedy | --temperature T
                 --top-k K --top-p P --seed S] [--repetition-penalty R] [--stop S] [--device D] [--logits K]
                 [--adapter DIR] [--json-object | --json-schema S | --regex RE | --grammar LARK]
                                     text generation -> one JSON object; the text streams to stderr
  webfm finetune <model-folder> --train FILE.jsonl [--eval FILE.jsonl] --method head|lora|head+lora
                 --out DIR [--epochs N --lr X --batch-size B --seed S --rank R ...]
                                     trains an adapter (PEFT files); a JSON line per step, a summary at the end

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
pub(crate) struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

const FLAGS: [&str; 12] =
    ["--quick", "--help", "--bt", "--json", "--no-normalize", "--no-truncate", "--chat", "--greedy", "--ignore-eos", "--mixed", "--stats", "--json-object"];

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
    fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name).map(|v| v.parse::<T>().map_err(|_| format!("{name}: not a number: {v:?}"))).transpose()
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
        "bench-qgemv" => {
            if a.has("--help") {
                println!("usage: webfm bench-qgemv N K [--bits 4|8|32] [--group 32|64|128] [--device auto|gpu|cpu] [--iters I]\n  times x [1, K] . W^T for W [N, K] stored as affine codes (--bits 4 or 8, default 4, group default 32) or f32 (--bits 32);\n  prints the time and the effective GB/s of weights read as JSON");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&["--device", "--bits", "--group", "--iters"])?;
            let dims: Vec<usize> = a.positional.iter().map(|s| s.parse::<usize>().map_err(|_| format!("not a size: {s:?}"))).collect::<Result<_, _>>()?;
            let [n, k] = dims[..] else {
                return Err("bench-qgemv needs two sizes: N K".into());
            };
            let num = |name: &str, default: usize| -> Result<usize, String> {
                a.get(name).map(|s| s.parse::<usize>().map_err(|_| format!("{name}: not a number: {s:?}"))).transpose().map(|v| v.unwrap_or(default))
            };
            let (bits, group, iters) = (num("--bits", 4)?, num("--group", 32)?, num("--iters", 10)?);
            if ![4, 8, 32].contains(&bits) {
                return Err(format!("--bits {bits}: expected 4, 8 or 32"));
            }
            let device = a.device()?;
            let r = pollster::block_on(webfm::bench::qgemv(&device, n, k, bits as u32, group, iters)).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
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
        "inspect" => {
            if a.has("--help") {
                println!("{INSPECT_HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&["--json"])?;
            let [path] = &a.positional[..] else {
                return Err("inspect needs one path: a .safetensors file, a .gguf file or a model folder".into());
            };
            let report = inspect_path(Path::new(path)).map_err(|e| e.to_string())?;
            if a.has("--json") {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        "convert" => {
            if a.has("--help") {
                println!("{CONVERT_HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            a.check(&["--bits", "--group", "--calibrate", "--mixed"])?;
            let [src, out] = &a.positional[..] else {
                return Err("convert needs two paths: <file.gguf | hf-folder> <out-folder>".into());
            };
            let opt = Options { bits: a.number("--bits")?, group: a.number("--group")? };
            opt.check().map_err(|e| e.to_string())?;
            let (src, out) = (Path::new(src), Path::new(out));
            if out.exists() && !(out.is_dir() && out.read_dir().map_err(|e| e.to_string())?.next().is_none()) {
                return Err(format!("{}: already exists and is not an empty folder; choose a new output folder", out.display()));
            }
            let calibration = a.get("--calibrate").map(calibration_texts).transpose()?;
            let recipe = convert_hf::Recipe { calibration: calibration.as_deref(), mixed: a.has("--mixed") };
            if (recipe.calibration.is_some() || recipe.mixed) && !src.is_dir() {
                return Err("--calibrate and --mixed work on a Hugging Face encoder folder, not a GGUF file".into());
            }
            let folder = if src.is_dir() {
                convert_hf::from_hf_dir_with(src, opt, &recipe)
            } else {
                webfm::weights::read_file(src).and_then(|bytes| {
                    let g = Gguf::parse(&src.display().to_string(), &bytes)?;
                    convert::from_gguf(&g, &bytes, opt)
                })
            }
            .map_err(|e| e.to_string())?;
            folder.write(out).map_err(|e| e.to_string())?;
            for n in &folder.notes {
                eprintln!("webfm: note: {n}");
            }
            let bytes: usize = folder.tensors.iter().map(|t| t.bytes.len()).sum();
            eprintln!(
                "webfm: wrote {} ({} tensors, {} quantized modules, {:.1} MiB of weights)",
                out.display(),
                folder.tensors.len(),
                folder.quantized.len(),
                bytes as f64 / (1024.0 * 1024.0)
            );
            Ok(ExitCode::SUCCESS)
        }
        "embed" | "classify" => {
            if a.has("--help") {
                println!("{}", if cmd == "embed" { EMBED_HELP } else { CLASSIFY_HELP });
                return Ok(ExitCode::SUCCESS);
            }
            encoder_command(cmd, &a).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        "generate" => {
            if a.has("--help") {
                println!("{GENERATE_HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            generate_command(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        "bench-finetune" => {
            if a.has("--help") {
                println!("{}", finetune::BENCH_HELP);
                return Ok(ExitCode::SUCCESS);
            }
            finetune::bench(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        "finetune" => {
            if a.has("--help") {
                println!("{}", finetune::HELP);
                return Ok(ExitCode::SUCCESS);
            }
            finetune::command(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}; try webfm --help")),
    }
}

/// A model folder's files and weights on `--device`, quantized on load to
/// `--bits` (group `--group`, default 64) when given.
pub(crate) fn load_folder(a: &Args, dir: &Path) -> Result<(webfm::models::files::ModelFiles, webfm::models::params::Params), String> {
    let mut params = webfm::models::params::Params::new(&a.device()?);
    if let Some(bits) = a.number::<u32>("--bits")? {
        let q = webfm::nn::Quantization { bits, group: a.number("--group")?.unwrap_or(64) };
        webfm::quant::affine::check_params(1, q.group, q.bits, q.group).map_err(|e| e.to_string())?;
        params.quantize_on_load(q);
    }
    let files = webfm::models::files::native::model_files(dir).map_err(|e| e.to_string())?;
    webfm::models::files::native::load_weights(dir, &mut params).map_err(|e| e.to_string())?;
    Ok((files, params))
}

const INSPECT_HELP: &str = "usage: webfm inspect <file.safetensors | file.gguf | folder> [--json]
  lists every tensor with its dtype, shape, bytes and quantization, then the totals.
  An affine triple (P.weight U32, P.scales, P.biases) shows as one quantized tensor
  whose bits and group come from the folder's config.json (or, without one, from
  the shapes when only one pair fits). A folder is read through model.safetensors
  or model.safetensors.index.json; only headers are read, not the weights.
  --json  the same as JSON";

/// `--calibrate FILE`: the `"text"` of each line of a JSONL file.
fn calibration_texts(path: &str) -> Result<Vec<String>, String> {
    finetune::jsonl(path)?
        .iter()
        .enumerate()
        .map(|(i, v)| v.get("text").and_then(|t| t.as_str()).map(str::to_string).ok_or_else(|| format!("{path}:{}: no \"text\" string", i + 1)))
        .collect()
}

const CONVERT_HELP: &str = "usage: webfm convert <file.gguf | hf-folder> <out-folder> [--bits 4|8] [--group 32|64|128] [--calibrate texts.jsonl] [--mixed]
  writes <out-folder>/config.json, tokenizer.json, tokenizer_config.json and model.safetensors
  (quantized linears and embeddings in the affine layout, norms as f32; see docs/FORMAT.md).
  From a GGUF (architecture llama, tokenizer gpt2): keeps the file's own quantization
  (Q4_0/Q4_1 -> 4-bit g32, Q8_0 -> 8-bit g32, floats stay float) unless --bits or --group
  is given, then tensors are dequantized and quantized again; Q/K rows are un-permuted
  to Hugging Face order. From a Hugging Face folder (config.json + model.safetensors,
  f32/f16/bf16): quantizes 2-D linear and embedding weights (default 4-bit, group 64)
  and copies the tokenizer files. The output folder must not exist (or be empty); it
  appears only once the conversion has succeeded.
  --calibrate texts.jsonl  (BERT-family encoders) quantize the encoder's linear layers
  with GPTQ against their inputs on these texts ({\"text\": ...} per line) instead of
  rounding each weight to nearest; data/calibration.jsonl is a general-purpose set.
  At 4 bits it brings all-MiniLM-L6-v2 from 0.930 to 0.965 worst cosine.
  --mixed  (BERT-family, 4 bits) keep every value projection and the last third of the
  layers' feed-forward weights at 8 bits, the weights 4 bits hurt most (as llama.cpp's
  Q4_K_M keeps attn_v and ffn_down wider); MiniLM: 5.2 bits a linear weight on average,
  and with --calibrate 0.9798 worst cosine (0.9649 at 4 bits throughout).";

/// What `inspect` shows for a path: a GGUF file, a safetensors file, or a folder.
fn inspect_path(path: &Path) -> webfm::Result<inspect::Report> {
    let name = path.display().to_string();
    let config = |dir: &Path| -> webfm::Result<Option<serde_json::Value>> {
        let p = dir.join("config.json");
        if !p.is_file() {
            return Ok(None);
        }
        let bytes = webfm::weights::read_file(&p)?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| webfm::Error::Io { file: p.display().to_string(), message: format!("not JSON: {e}") })
    };
    if path.is_dir() {
        let index = path.join(INDEX_FILE);
        let headers = if index.is_file() {
            let idx = ShardIndex::parse(&index.display().to_string(), &webfm::weights::read_file(&index)?)?;
            let mut hs = Vec::new();
            for shard in idx.shards() {
                let h = read_header(&path.join(shard))?;
                idx.check_shard(shard, &h)?;
                hs.push((Some(shard.to_string()), h));
            }
            hs
        } else {
            vec![(None, read_header(&path.join("model.safetensors"))?)]
        };
        return Ok(inspect::safetensors(&name, &headers, config(path)?.as_ref()));
    }
    let io = |e: std::io::Error| webfm::Error::Io { file: name.clone(), message: e.to_string() };
    let mut magic = [0u8; 4];
    let n = std::io::Read::read(&mut std::fs::File::open(path).map_err(io)?, &mut magic).map_err(io)?;
    if n == 4 && &magic == b"GGUF" {
        return Ok(inspect::gguf(&name, &read_gguf_header(path)?));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(inspect::safetensors(&name, &[(None, read_header(path)?)], config(dir)?.as_ref()))
}

/// Reads and validates a safetensors header without reading the tensors.
fn read_header(path: &Path) -> webfm::Result<Header> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| webfm::Error::Io { file: name.clone(), message: e.to_string() };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut first = Vec::with_capacity(8);
    (&mut f).take(8).read_to_end(&mut first).map_err(io)?;
    let total = header_size(&name, &first)?; // at most 8 + 100 MiB
    let mut prefix = first;
    (&mut f).take(total - 8).read_to_end(&mut prefix).map_err(io)?;
    let h = Header::parse(&name, &prefix)?;
    h.check_file_len(len)?;
    Ok(h)
}

/// Parses a GGUF header from a growing prefix of the file, so that inspecting
/// a large file reads its metadata, not its tensors.
fn read_gguf_header(path: &Path) -> webfm::Result<Gguf> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| webfm::Error::Io { file: name.clone(), message: e.to_string() };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut prefix = Vec::new();
    let mut want = 1u64 << 20;
    loop {
        let have = prefix.len() as u64;
        (&mut f).take(want.min(len) - have.min(want.min(len))).read_to_end(&mut prefix).map_err(io)?;
        match Gguf::parse_header(&name, &prefix, len) {
            Err(_) if (prefix.len() as u64) < len => want = want.saturating_mul(4),
            r => return r,
        }
    }
}
