//! `webfm embed`, `webfm classify` and `webfm generate`: a converted or
//! Hugging Face folder run on texts from stdin or a prompt, results as JSON.

use std::path::Path;
use std::str::FromStr;

use super::{finetune, load_folder, Args};

pub const EMBED_HELP: &str = "usage: webfm embed <model-folder> [--device auto|gpu|cpu] [--bits 4|8] [--group 32|64|128]
                   [--pooling mean|cls] [--no-normalize] [--max-tokens N] [--no-truncate] [--batch N] [--stats]
  reads texts from stdin, one per line, and writes one JSON object per line:
  {\"text\": ..., \"ids\": [...], \"truncated\": bool, \"embedding\": [...]}.
  Pooling and normalisation follow the folder's sentence-transformers files
  (1_Pooling/config.json, modules.json), else mean and normalised. --bits
  quantizes a float folder's linear and embedding weights on load (group 64
  unless --group). Texts longer than the model takes are truncated (marked)
  unless --no-truncate, which makes them an error. --stats: one JSON object on
  stderr at the end: batches, ms per batch and, on a GPU, its counters per batch
  (the first batch, where pipelines compile, left out when there are more).";

pub const CLASSIFY_HELP: &str = "usage: webfm classify <model-folder> [--device auto|gpu|cpu] [--bits 4|8] [--group G]
                   [--top-k N] [--labels a,b,c] [--template \"This text is about {}.\"] [--batch N]
  reads texts from stdin, one per line, and writes one JSON object per line:
  {\"text\": ..., \"labels\": [{\"label\": ..., \"score\": ...}, ...]}, best first.
  With a classification head (BertForSequenceClassification,
  DistilBertForSequenceClassification) the scores are its softmax; with
  --labels, zero-shot: the text against each label put into the template,
  by embedding similarity; with --adapter DIR, the head (and LoRA) that
  webfm finetune (or PEFT) wrote there.";

/// `webfm embed` and `webfm classify`.
pub fn encoder_command(cmd: &str, a: &Args) -> Result<(), String> {
    use std::io::{BufRead, Write};
    use webfm::models::bert::{Bert, EncodeOptions, Pooling};
    a.check(&[
        "--device",
        "--bits",
        "--group",
        "--pooling",
        "--no-normalize",
        "--max-tokens",
        "--no-truncate",
        "--batch",
        "--top-k",
        "--labels",
        "--template",
        "--adapter",
        "--stats",
    ])?;
    let [dir] = &a.positional[..] else {
        return Err(format!("{cmd} needs one model folder"));
    };
    let (files, params) = load_folder(a, Path::new(dir))?;
    let model = Bert::new(&files, &params).map_err(|e| e.to_string())?;
    drop(params);
    let opt = EncodeOptions { truncate: !a.has("--no-truncate"), max_tokens: a.number("--max-tokens")? };
    let pooling = a.get("--pooling").map(Pooling::from_str).transpose().map_err(|e| e.to_string())?;
    let normalize = if a.has("--no-normalize") { Some(false) } else { None };
    let batch = a.number::<usize>("--batch")?.unwrap_or(8).max(1);
    let labels: Option<Vec<String>> = a.get("--labels").map(|l| l.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect());
    let template = a.get("--template").unwrap_or("This text is about {}.");
    let adapter = match a.get("--adapter") {
        Some(d) if cmd == "classify" => {
            Some(webfm::train::encoder::ClassifierAdapter::from_file(&model, &finetune::read_adapter(d)?).map_err(|e| e.to_string())?)
        }
        Some(_) => return Err("--adapter is for classify and generate".into()),
        None => None,
    };
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>().map_err(|e| format!("stdin: {e}"))?;
    let mut out = std::io::stdout().lock();
    let gpu = match model.device() {
        webfm::Device::Gpu(g) => Some(g.clone()),
        webfm::Device::Cpu => None,
    };
    if let Some(g) = &gpu {
        g.reset_counters();
    }
    let mut start = std::time::Instant::now();
    let batches = lines.len().div_ceil(batch);
    for (i, chunk) in lines.chunks(batch).enumerate() {
        // The first batch compiles the pipelines: a warm-up, left out of --stats when there are more.
        if i == 1 {
            start = std::time::Instant::now();
            if let Some(g) = &gpu {
                g.reset_counters();
            }
        }
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let rows: Vec<serde_json::Value> = if cmd == "embed" {
            let es = pollster::block_on(model.embed(&texts, pooling, normalize, opt)).map_err(|e| e.to_string())?;
            texts.iter().zip(es).map(|(t, e)| serde_json::json!({"text": t, "ids": e.ids, "truncated": e.truncated, "embedding": e.embedding})).collect()
        } else if let Some(ad) = &adapter {
            let rs = pollster::block_on(ad.classify(&model, &texts, a.number("--top-k")?, opt)).map_err(|e| e.to_string())?;
            texts.iter().zip(rs).map(|(t, r)| serde_json::json!({"text": t, "labels": r.into_iter().map(|l| serde_json::json!({"label": l.label, "score": l.score})).collect::<Vec<_>>()})).collect()
        } else if let Some(labels) = &labels {
            let ls: Vec<&str> = labels.iter().map(String::as_str).collect();
            let mut rows = Vec::new();
            for t in &texts {
                let r = pollster::block_on(model.zero_shot(t, &ls, template, opt)).map_err(|e| e.to_string())?;
                let top: Vec<_> =
                    r.into_iter().take(a.number("--top-k")?.unwrap_or(usize::MAX)).map(|l| serde_json::json!({"label": l.label, "score": l.score})).collect();
                rows.push(serde_json::json!({"text": t, "labels": top}));
            }
            rows
        } else {
            let rs = pollster::block_on(model.classify(&texts, a.number("--top-k")?, opt)).map_err(|e| e.to_string())?;
            texts.iter().zip(rs).map(|(t, r)| serde_json::json!({"text": t, "labels": r.into_iter().map(|l| serde_json::json!({"label": l.label, "score": l.score})).collect::<Vec<_>>()})).collect()
        };
        for r in rows {
            writeln!(out, "{r}").map_err(|e| format!("stdout: {e}"))?;
        }
    }
    if a.has("--stats") {
        let timed = if batches > 1 { batches - 1 } else { batches };
        let mut stats = serde_json::json!({
            "texts": lines.len(),
            "batches": batches,
            "timed_batches": timed,
            "ms_per_batch": start.elapsed().as_secs_f64() * 1e3 / timed.max(1) as f64,
        });
        if let Some(g) = &gpu {
            stats["gpu_per_batch"] = per_step(g.counters(), timed);
        }
        eprintln!("{stats}");
    }
    Ok(())
}

pub const GENERATE_HELP: &str = "usage: webfm generate <model-folder> --prompt TEXT [--chat] [--max-new-tokens N]
                   [--greedy | --temperature T [--top-k K] [--top-p P] [--seed S]]
                   [--repetition-penalty R] [--stop S] [--ignore-eos] [--device auto|gpu|cpu]
                   [--bits 4|8] [--group G] [--logits K] [--adapter DIR]
                   [--json-object | --json-schema FILE|JSON | --regex RE | --grammar FILE]
  generates text after the prompt and prints one JSON object:
  {\"prompt_ids\": [...], \"ids\": [...], \"text\": ..., \"finish\": \"eos\"|\"stop\"|\"length\",
   \"logits\": [first K logits at the last prompt position], \"ms_first_token\": ...,
   \"tokens_per_s\": ..., \"kv_cache_bytes\": ..., on a GPU \"gpu_prefill\" and \"gpu_per_decode_token\":
   dispatches, buffers and bind groups created, bytes uploaded, host ms (the first
   decode token, where the decode kernels compile, left out when there are more)}
  while the text streams to stderr. --chat puts the prompt as a user message
  through the model's chat template. Greedy unless --temperature is above 0
  (default 0); --max-new-tokens defaults to 128. Models: Llama-family
  (llama, mistral, qwen2, SmolLM2) and GPT-2 folders, e.g. from webfm convert.
  --adapter DIR adds a LoRA adapter (webfm finetune's or PEFT's) to a Llama-family model.
  --json-object, --json-schema, --regex and --grammar (a Lark grammar) constrain the
  output: at every step only tokens that keep it valid can be picked (\"mask_ms\":
  the time spent computing those masks).";

/// GPU counters averaged over `n` steps (a decode token, an encoder batch).
pub(crate) fn per_step(c: webfm::gpu::GpuCounters, n: usize) -> serde_json::Value {
    let mut v = serde_json::json!(c);
    if let Some(o) = v.as_object_mut() {
        for x in o.values_mut() {
            if let Some(f) = x.as_f64() {
                *x = serde_json::json!(f / n.max(1) as f64);
            }
        }
    }
    v
}

/// The grammar `--json-object`, `--json-schema`, `--regex` or `--grammar` names (at most one).
fn grammar_arg(a: &Args) -> Result<Option<webfm::tasks::constrain::Grammar>, String> {
    use webfm::tasks::constrain::Grammar;
    let read = |v: &str| -> Result<String, String> {
        if Path::new(v).is_file() {
            std::fs::read_to_string(v).map_err(|e| format!("{v}: {e}"))
        } else {
            Ok(v.to_string())
        }
    };
    let mut got = Vec::new();
    if a.has("--json-object") {
        got.push(Grammar::JsonObject);
    }
    if let Some(v) = a.get("--json-schema") {
        let text = read(v)?;
        let schema = serde_json::from_str(&text).map_err(|e| format!("--json-schema: not JSON (a file path or the schema itself): {e}"))?;
        got.push(Grammar::JsonSchema(schema));
    }
    if let Some(v) = a.get("--regex") {
        got.push(Grammar::Regex(v.to_string()));
    }
    if let Some(v) = a.get("--grammar") {
        got.push(Grammar::Lark(read(v)?));
    }
    if got.len() > 1 {
        return Err("give at most one of --json-object, --json-schema, --regex and --grammar".into());
    }
    Ok(got.pop())
}

/// `webfm generate`.
pub fn generate_command(a: &Args) -> Result<(), String> {
    use std::io::Write;
    use webfm::models::decoder::Decoder;
    use webfm::tasks::chat::ChatMessage;
    use webfm::tasks::generate::{GenerateOptions, Generation};
    a.check(&[
        "--device",
        "--bits",
        "--group",
        "--prompt",
        "--chat",
        "--max-new-tokens",
        "--greedy",
        "--temperature",
        "--top-k",
        "--top-p",
        "--seed",
        "--repetition-penalty",
        "--stop",
        "--ignore-eos",
        "--logits",
        "--adapter",
        "--json-object",
        "--json-schema",
        "--regex",
        "--grammar",
    ])?;
    let [dir] = &a.positional[..] else {
        return Err("generate needs one model folder".into());
    };
    let prompt = a.get("--prompt").ok_or("generate needs --prompt TEXT")?;
    let (files, params) = load_folder(a, Path::new(dir))?;
    let model = std::rc::Rc::new(Decoder::new(&files, &params).map_err(|e| e.to_string())?);
    drop(params);
    if let Some(d) = a.get("--adapter") {
        let set = model.read_adapter(&finetune::read_adapter(d)?).map_err(|e| e.to_string())?;
        model.set_adapter(Some(&set), true).map_err(|e| e.to_string())?;
    }
    let text = if a.has("--chat") {
        model.apply_chat_template(&[ChatMessage { role: "user".into(), content: prompt.into() }]).map_err(|e| e.to_string())?
    } else {
        prompt.to_string()
    };
    let opt = GenerateOptions {
        max_new_tokens: a.number("--max-new-tokens")?.unwrap_or(128),
        temperature: if a.has("--greedy") { 0.0 } else { a.number("--temperature")?.unwrap_or(0.0) },
        top_k: a.number("--top-k")?.unwrap_or(0),
        top_p: a.number("--top-p")?.unwrap_or(1.0),
        repetition_penalty: a.number("--repetition-penalty")?.unwrap_or(1.0),
        seed: a.number("--seed")?.unwrap_or(0),
        stop: a.get("--stop").map(|s| vec![s.to_string()]).unwrap_or_default(),
        ignore_eos: a.has("--ignore-eos"),
        grammar: grammar_arg(a)?,
    };
    let prompt_ids = model.encode(&text).map_err(|e| e.to_string())?;
    let k_logits = a.number::<usize>("--logits")?.unwrap_or(0);
    let gpu = match model.device() {
        webfm::Device::Gpu(g) => Some(g.clone()),
        webfm::Device::Cpu => None,
    };
    let mut prefill_counters = None;
    let opt_max = opt.max_new_tokens;
    let mut warm = 1;
    if let Some(g) = &gpu {
        g.reset_counters();
    }
    let start = std::time::Instant::now();
    let mut g = Generation::new(model.clone(), prompt_ids, opt).map_err(|e| e.to_string())?;
    if k_logits > 0 {
        g.keep_first_logits();
    }
    let (mut first_ms, mut first_at) = (0.0, start);
    let mut err = std::io::stderr().lock();
    while let Some(piece) = pollster::block_on(g.next()).map_err(|e| e.to_string())? {
        if g.ids.len() == 1 {
            first_at = std::time::Instant::now();
            first_ms = (first_at - start).as_secs_f64() * 1e3;
            if let Some(g) = &gpu {
                prefill_counters = Some(g.counters());
                g.reset_counters();
            }
        }
        // The first decode token compiles the decode kernels: a warm-up, left out.
        if g.ids.len() == 2 && opt_max > 2 {
            if let Some(g) = &gpu {
                g.reset_counters();
            }
            warm = 2;
        }
        let _ = write!(err, "{}", piece.text);
        let _ = err.flush();
    }
    let _ = writeln!(err);
    let decode_s = first_at.elapsed().as_secs_f64();
    let tokens_per_s = if g.ids.len() > 1 && decode_s > 0.0 { (g.ids.len() - 1) as f64 / decode_s } else { 0.0 };
    let logits: Vec<f32> = g.first_logits.as_ref().map(|l| l.iter().take(k_logits).copied().collect()).unwrap_or_default();
    let out = serde_json::json!({
        "prompt_ids": g.prompt_ids,
        "ids": g.ids,
        "text": g.text(),
        "finish": g.finish.map(|f| f.name()),
        "logits": logits,
        "ms_first_token": first_ms,
        "tokens_per_s": tokens_per_s,
        "kv_cache_bytes": g.cache_bytes(),
        "mask_ms": g.mask_millis,
    });
    let mut out = out;
    if let Some(gpu) = &gpu {
        // Counters of the prompt's forward (to the first token) and of each later token.
        out["gpu_prefill"] = serde_json::json!(prefill_counters);
        out["gpu_per_decode_token"] = per_step(gpu.counters(), g.ids.len().saturating_sub(warm));
    }
    println!("{out}");
    Ok(())
}
