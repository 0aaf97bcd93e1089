//! `webfm finetune`, and reading adapter folders for `classify` and `generate`.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use webfm::models::bert::Bert;
use webfm::models::decoder::Decoder;
use webfm::train::adapter::{AdapterFile, CONFIG_FILE, WEIGHTS_FILE};
use webfm::train::run::{ClassifierRun, Method, Options, StepInfo, TextItem, TextRun};

use super::{load_folder, Args};

pub const HELP: &str = "usage: webfm finetune <model-folder> --train train.jsonl [--eval eval.jsonl]
                   --method head|lora|head+lora --out <adapter-folder>
                   [--epochs N] [--lr X] [--batch-size B] [--seed S] [--rank R] [--alpha A]
                   [--targets a,b] [--warmup F] [--weight-decay W] [--max-grad-norm G]
                   [--max-tokens N] [--device auto|gpu|cpu] [--bits 4|8] [--group G]
  trains an adapter on a frozen model and writes it as PEFT files
  (<out>/adapter_config.json, <out>/adapter_model.safetensors).
  Encoders (BERT, MiniLM, DistilBERT): lines {\"text\": ..., \"label\": ...}; method
  head (a classification head on mean-pooled features) or head+lora (and LoRA on
  the attention's query and value). Decoders (Llama family): lines
  {\"prompt\": ..., \"completion\": ...} (loss on the completion) or {\"text\": ...};
  method lora (q_proj and v_proj unless --targets).
  Defaults: lr 1e-2 for head, 3e-3 for head+lora, 2e-3 for lora; enough epochs for
  64 steps (at least 3, at most 100: 8 epochs for 60 examples); batch 8, seed 0,
  rank 8, alpha 16, warm-up 0.1 of the steps then linear decay, weight decay 0.01, gradients clipped to norm 1.
  Prints one JSON object per step to stderr and, at the end, to stdout:
  {\"train_loss\": [...], \"eval_accuracy\": ..., \"eval_loss\": ..., \"examples_per_s\": ...,
   \"truncated\": N, \"adapter\": <out>}. When a step fails (a loss that is not
  finite, memory), the adapter as of the last good step is written to <out>
  and the error names the step.";

/// The lines of a JSONL file, each an object.
pub fn jsonl(path: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: not JSON: {e}", i + 1))?;
        if !v.is_object() {
            return Err(format!("{path}:{}: expected a JSON object", i + 1));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(format!("{path}: no examples"));
    }
    Ok(out)
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `{"text", "label"}` lines; any other kind is named with its line.
fn labelled(path: &str, lines: &[Value]) -> Result<Vec<(String, String)>, String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, v)| match (field(v, "text"), v.get("label")) {
            (Some(t), Some(l)) => Ok((t.to_string(), l.as_str().map_or_else(|| l.to_string(), str::to_string))),
            _ => Err(format!("{path}:{}: a classifier needs {{\"text\": ..., \"label\": ...}} on every line (mixed example kinds?)", i + 1)),
        })
        .collect()
}

/// `{"prompt", "completion"}` or `{"text"}` lines (without labels).
fn texts(path: &str, lines: &[Value]) -> Result<Vec<TextItem>, String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, v)| match (field(v, "prompt"), field(v, "completion"), field(v, "text"), v.get("label")) {
            (Some(p), Some(c), None, None) => Ok(TextItem::Completion { prompt: p.into(), completion: c.into() }),
            (None, None, Some(t), None) => Ok(TextItem::Text(t.into())),
            _ => Err(format!("{path}:{}: a decoder takes {{\"prompt\", \"completion\"}} or {{\"text\"}} lines (a \"label\" is for classifiers)", i + 1)),
        })
        .collect()
}

fn options(a: &Args) -> Result<Options, String> {
    let d = Options::default();
    let method: Method = a.get("--method").ok_or("finetune needs --method head|lora|head+lora")?.parse().map_err(|e: webfm::Error| e.to_string())?;
    Ok(Options {
        method,
        rank: a.number("--rank")?.unwrap_or(d.rank),
        alpha: a.number("--alpha")?.unwrap_or(d.alpha),
        targets: a.get("--targets").map(|t| t.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()),
        lr: a.number("--lr")?,
        epochs: a.number("--epochs")?,
        batch_size: a.number("--batch-size")?.unwrap_or(d.batch_size),
        seed: a.number("--seed")?.unwrap_or(d.seed),
        warmup: a.number("--warmup")?.unwrap_or(d.warmup),
        weight_decay: a.number("--weight-decay")?.unwrap_or(d.weight_decay),
        max_grad_norm: Some(a.number("--max-grad-norm")?.unwrap_or(1.0)),
        max_tokens: a.number("--max-tokens")?,
    })
}

fn write_adapter(file: &AdapterFile, out: &Path) -> Result<(), String> {
    let (config, weights) = file.to_bytes().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (name, bytes) in [(CONFIG_FILE, config), (WEIGHTS_FILE, weights)] {
        let p = out.join(name);
        let tmp = out.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, &p)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// Reads `<dir>/adapter_config.json` and `<dir>/adapter_model.safetensors`.
pub fn read_adapter(dir: &str) -> Result<AdapterFile, String> {
    let read = |name: &str| std::fs::read(Path::new(dir).join(name)).map_err(|e| format!("{dir}/{name}: {e}"));
    AdapterFile::parse(&read(CONFIG_FILE)?, &read(WEIGHTS_FILE)?).map_err(|e| e.to_string())
}

/// What the CLI needs of either run.
trait Run {
    fn step(&mut self) -> webfm::Result<Option<StepInfo>>;
    fn file(&self, base: &str) -> webfm::Result<AdapterFile>;
}

impl Run for ClassifierRun<'_> {
    fn step(&mut self) -> webfm::Result<Option<StepInfo>> {
        pollster::block_on(ClassifierRun::step(self))
    }
    fn file(&self, base: &str) -> webfm::Result<AdapterFile> {
        pollster::block_on(self.adapter().to_file(base))
    }
}

impl Run for TextRun<'_> {
    fn step(&mut self) -> webfm::Result<Option<StepInfo>> {
        pollster::block_on(TextRun::step(self))
    }
    fn file(&self, base: &str) -> webfm::Result<AdapterFile> {
        pollster::block_on(self.adapter().to_file(base))
    }
}

/// Steps to the end, one JSON line each on stderr, then writes the adapter;
/// a failing step writes the adapter as of the last good step first.
fn train_to_end(run: &mut dyn Run, base: &str, out: &Path) -> Result<(), String> {
    loop {
        match run.step() {
            Ok(Some(s)) => {
                let _ = writeln!(std::io::stderr().lock(), "{}", serde_json::to_string(&s).expect("plain fields"));
            }
            Ok(None) => break,
            Err(e) => {
                write_adapter(&run.file(base).map_err(|e| e.to_string())?, out)?;
                return Err(format!("{e}; the adapter as of the last good step is in {}", out.display()));
            }
        }
    }
    write_adapter(&run.file(base).map_err(|e| e.to_string())?, out)
}

pub fn command(a: &Args) -> Result<(), String> {
    a.check(&[
        "--train",
        "--eval",
        "--method",
        "--out",
        "--epochs",
        "--lr",
        "--batch-size",
        "--seed",
        "--rank",
        "--alpha",
        "--targets",
        "--warmup",
        "--weight-decay",
        "--max-grad-norm",
        "--max-tokens",
        "--device",
        "--bits",
        "--group",
    ])?;
    let [dir] = &a.positional[..] else {
        return Err("finetune needs one model folder".into());
    };
    let train_path = a.get("--train").ok_or("finetune needs --train FILE.jsonl")?;
    let out = Path::new(a.get("--out").ok_or("finetune needs --out ADAPTER-FOLDER")?);
    let opt = options(a)?;
    let train = jsonl(train_path)?;
    let eval = a.get("--eval").map(|p| jsonl(p).map(|l| (p, l))).transpose()?;
    let (files, params) = load_folder(a, Path::new(dir))?;
    let base = dir.trim_end_matches('/');
    let model_type = files.config_json().map_err(|e| e.to_string())?.get("model_type").and_then(Value::as_str).unwrap_or("").to_string();
    let result = if matches!(model_type.as_str(), "bert" | "distilbert") {
        let model = Bert::new(&files, &params).map_err(|e| e.to_string())?;
        drop(params);
        let data = labelled(train_path, &train)?;
        let eval = eval.map(|(p, l)| labelled(p, &l)).transpose()?;
        let mut run = ClassifierRun::new(&model, &data, &opt).map_err(|e| e.to_string())?;
        train_to_end(&mut run, base, out)?;
        let (acc, loss) = match &eval {
            Some(e) => {
                let (acc, loss) = pollster::block_on(run.evaluate(e)).map_err(|e| e.to_string())?;
                (json!(acc), json!(loss))
            }
            None => (Value::Null, Value::Null),
        };
        json!({"train_loss": run.train_loss(), "eval_accuracy": acc, "eval_loss": loss, "examples_per_s": run.examples_per_second(), "truncated": run.truncated, "labels": run.labels()})
    } else {
        let model = Decoder::new(&files, &params).map_err(|e| e.to_string())?;
        drop(params);
        let data = texts(train_path, &train)?;
        let eval = eval.map(|(p, l)| texts(p, &l)).transpose()?;
        let mut run = TextRun::new(&model, &data, &opt).map_err(|e| e.to_string())?;
        train_to_end(&mut run, base, out)?;
        let loss = match &eval {
            Some(e) => json!(pollster::block_on(run.evaluate(e)).map_err(|e| e.to_string())?),
            None => Value::Null,
        };
        json!({"train_loss": run.train_loss(), "eval_accuracy": Value::Null, "eval_loss": loss, "examples_per_s": run.examples_per_second(), "truncated": run.truncated})
    };
    let mut result = result;
    result["adapter"] = json!(out.display().to_string());
    println!("{result}");
    Ok(())
}

pub const BENCH_HELP: &str = "usage: webfm bench-finetune <model-folder> [--batch B] [--tokens T] [--steps N]
                   [--method head|head+lora|lora] [--rank R] [--device auto|gpu|cpu]
  times training steps on synthetic examples of exactly T tokens (default: batch 8 × 64
  tokens, head+lora rank 8 on encoders; batch 4 × 128, lora rank 8 on decoders), one warm-up
  step, then N (default 5); prints {examples_per_s, steps, seconds, peak_gpu_bytes, loss_first, loss_last}.";

/// `webfm bench-finetune`: steady-state training throughput on synthetic examples.
pub fn bench(a: &Args) -> Result<(), String> {
    a.check(&["--batch", "--tokens", "--steps", "--method", "--rank", "--device", "--bits", "--group"])?;
    let [dir] = &a.positional[..] else {
        return Err("bench-finetune needs one model folder".into());
    };
    let (files, params) = load_folder(a, Path::new(dir))?;
    let device = params.device().clone();
    let model_type = files.config_json().map_err(|e| e.to_string())?.get("model_type").and_then(Value::as_str).unwrap_or("").to_string();
    let encoder = matches!(model_type.as_str(), "bert" | "distilbert");
    let batch = a.number("--batch")?.unwrap_or(if encoder { 8 } else { 4 });
    let tokens = a.number("--tokens")?.unwrap_or(if encoder { 64 } else { 128 });
    let steps: usize = a.number("--steps")?.unwrap_or(5);
    let method: Method = a.get("--method").unwrap_or(if encoder { "head+lora" } else { "lora" }).parse().map_err(|e: webfm::Error| e.to_string())?;
    let opt = Options {
        method,
        rank: a.number("--rank")?.unwrap_or(8),
        epochs: Some(1),
        batch_size: batch,
        max_tokens: Some(tokens),
        warmup: 0.0,
        ..Options::default()
    };
    // Long enough to be cut at `tokens` by any tokenizer: varied words, numbered.
    let text = |i: usize| (0..tokens * 2).map(|j| format!("word{} ", (i * 7 + j * 13) % 97)).collect::<String>();
    let n = batch * (steps + 1);
    let (bert, dec);
    let mut run: Box<dyn Run + '_>;
    if encoder {
        bert = Bert::new(&files, &params).map_err(|e| e.to_string())?;
        let data: Vec<(String, String)> = (0..n).map(|i| (text(i), if i % 2 == 0 { "a" } else { "b" }.to_string())).collect();
        run = Box::new(ClassifierRun::new(&bert, &data, &opt).map_err(|e| e.to_string())?);
    } else {
        dec = Decoder::new(&files, &params).map_err(|e| e.to_string())?;
        let data: Vec<TextItem> = (0..n).map(|i| TextItem::Text(text(i))).collect();
        run = Box::new(TextRun::new(&dec, &data, &opt).map_err(|e| e.to_string())?);
    }
    drop(params);
    let first = run.step().map_err(|e| e.to_string())?.ok_or("no step")?;
    if let webfm::Device::Gpu(g) = &device {
        pollster::block_on(device.sync()).map_err(|e| e.to_string())?;
        g.reset_peak();
    }
    let t0 = std::time::Instant::now();
    let mut last = first.clone();
    for _ in 0..steps {
        last = run.step().map_err(|e| e.to_string())?.ok_or("ran out of examples")?;
    }
    pollster::block_on(device.sync()).map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = match &device {
        webfm::Device::Gpu(g) => g.peak_bytes(),
        webfm::Device::Cpu => 0,
    };
    println!(
        "{}",
        json!({"model_type": model_type, "device": device.describe(), "method": a.get("--method").unwrap_or(if encoder { "head+lora" } else { "lora" }),
               "batch": batch, "tokens": tokens, "steps": steps, "seconds": secs, "examples_per_s": (batch * steps) as f64 / secs,
               "peak_gpu_bytes": peak, "loss_first": first.loss, "loss_last": last.loss})
    );
    Ok(())
}
