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
    for args in
        [&["bench-gemm", "1", "2"][..], &["bench-gemm", "1", "2", "x"], &["frobnicate"], &["selftest", "--device", "tpu"], &["selftest", "--bogus", "1"]]
    {
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

/// Runs `webfm` with `stdin` fed in; returns (success, stdout lines as JSON, stderr).
fn webfm_stdin(args: &[&str], stdin: &str) -> (bool, Vec<serde_json::Value>, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_webfm")).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run webfm");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn embed_and_classify_read_stdin_and_write_json_lines() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/tiny-bert-cls");
    for device in ["cpu", "gpu"] {
        let (ok, lines, err) = webfm_stdin(&["embed", dir, "--device", device], "the music was great\n\nIs it good?\n");
        assert!(ok, "{err}");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["text"], "the music was great");
        assert_eq!(lines[1]["ids"], serde_json::json!([2, 3]), "an empty line is [CLS] [SEP]");
        let e: Vec<f64> = lines[0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(e.len(), 32);
        assert!((e.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4, "normalised by default");

        let (ok, lines, err) = webfm_stdin(&["classify", dir, "--device", device, "--top-k", "2"], "I loved this movie, it was wonderful!\n");
        assert!(ok, "{err}");
        let labels = lines[0]["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 2);
        // PyTorch's top label for this text (tests/golden/tiny_cls.json).
        assert_eq!(labels[0]["label"], "positive");
        assert!(labels[0]["score"].as_f64().unwrap() >= labels[1]["score"].as_f64().unwrap());

        let (ok, lines, err) = webfm_stdin(&["classify", dir, "--device", device, "--labels", "music,food"], "the music was great\n");
        assert!(ok, "{err}");
        assert_eq!(lines[0]["labels"].as_array().unwrap().len(), 2);
    }
    let (ok, _, err) = webfm_stdin(&["embed", "/no/such/folder"], "x\n");
    assert!(!ok && err.contains("config.json"), "{err}");
    let (ok, _, err) = webfm_stdin(&["embed", dir, "--bits", "3"], "x\n");
    assert!(!ok && err.contains("bits"), "{err}");
}

fn golden(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

#[test]
fn generate_prints_the_reference_greedy_tokens_and_logits() {
    let g = golden("tiny_decoders.json");
    let case = &g["models"]["tiny-qwen2"]["cases"][0];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/tiny-qwen2");
    for device in ["cpu", "gpu"] {
        let args =
            ["generate", dir, "--prompt", case["prompt"].as_str().unwrap(), "--max-new-tokens", "16", "--ignore-eos", "--logits", "5", "--device", device];
        let out = webfm(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ids(&v["prompt_ids"]), ids(&case["prompt_ids"]));
        assert_eq!(ids(&v["ids"]), ids(&case["greedy_ids"]), "{device}");
        assert_eq!(v["finish"], "length");
        let logits = v["logits"].as_array().unwrap();
        assert_eq!(logits.len(), 5);
        for (a, b) in logits.iter().zip(case["logits"].as_array().unwrap()) {
            assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(v["ms_first_token"].as_f64().unwrap() > 0.0 && v["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["kv_cache_bytes"].as_u64().unwrap() > 0 || device == "cpu");
        // The text streamed to stderr is the text of the result.
        assert!(String::from_utf8_lossy(&out.stderr).starts_with(v["text"].as_str().unwrap()));
    }
}

#[test]
fn generate_reproduces_smollm2_chat_greedy_text() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/smollm2");
    if !std::path::Path::new(dir).join("model.safetensors").exists() {
        // tests/decoder.rs converts it; scripts/prepare-models.sh too.
        eprintln!("SKIPPED: {dir} is absent");
        return;
    }
    let g = golden("smollm2_generate.json");
    let case = g["cases"].as_array().unwrap().iter().find(|c| c["chat"].as_bool() == Some(true)).unwrap();
    let question = case["messages"][0]["content"].as_str().unwrap();
    let out = webfm(&["generate", dir, "--prompt", question, "--chat", "--max-new-tokens", "32", "--device", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&v["prompt_ids"]), ids(&case["prompt_ids"]));
    assert_eq!(v["text"], case["greedy_text"]);
}

#[test]
fn generate_rejects_bad_requests_with_a_message() {
    let qwen = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/tiny-qwen2");
    let bert = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/tiny-bert-cls");
    let cases: [(&[&str], &str); 7] = [
        (&["generate", qwen, "--prompt", ""], "prompt is empty"),
        (&["generate", qwen, "--prompt", "hi", "--temperature", "-1"], "temperature"),
        (&["generate", qwen, "--prompt", "hi", "--temperature", "1", "--top-p", "1.5"], "topP"),
        (&["generate", qwen, "--prompt", "hi", "--max-new-tokens", "1000"], "context of 128"),
        (&["generate", qwen, "--prompt", "hi", "--chat"], "no chat template"),
        (&["generate", bert, "--prompt", "hi"], "\"bert\""),
        (&["generate", qwen], "--prompt"),
    ];
    for (args, want) in cases {
        let out = webfm(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    }
}

/// A scratch folder under target/ for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn finetune_writes_an_adapter_that_classify_and_generate_take() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = scratch("cli-finetune");
    let p = |n: &str| dir.join(n).display().to_string();
    // A classifier: head + LoRA on the tiny BERT, 2 labels, with an eval set.
    let rows = [
        "{\"text\": \"great fun\", \"label\": \"good\"}",
        "{\"text\": \"awful mess\", \"label\": \"bad\"}",
        "{\"text\": \"lovely day\", \"label\": \"good\"}",
        "{\"text\": \"terrible food\", \"label\": \"bad\"}",
    ];
    std::fs::write(p("train.jsonl"), rows.join("\n")).unwrap();
    std::fs::write(p("eval.jsonl"), rows[..2].join("\n")).unwrap();
    let model = format!("{root}/tests/models/tiny-bert-cls");
    let out = webfm(&[
        "finetune",
        &model,
        "--train",
        &p("train.jsonl"),
        "--eval",
        &p("eval.jsonl"),
        "--method",
        "head+lora",
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--rank",
        "2",
        "--device",
        "cpu",
        "--out",
        &p("cls"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let steps: Vec<serde_json::Value> = err.lines().map(|l| serde_json::from_str(l).expect("a JSON line per step")).collect();
    assert_eq!(steps.len(), 6, "3 epochs of 2 batches");
    assert_eq!((steps[5]["step"].as_u64(), steps[5]["steps"].as_u64(), steps[5]["epoch"].as_u64()), (Some(6), Some(6), Some(3)));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["train_loss"].as_array().unwrap().len(), 6);
    assert!(r["eval_accuracy"].as_f64().unwrap() >= 0.0 && r["eval_loss"].as_f64().unwrap() > 0.0);
    assert_eq!(r["labels"], serde_json::json!(["good", "bad"]));
    assert!(dir.join("cls/adapter_config.json").exists() && dir.join("cls/adapter_model.safetensors").exists());
    let (ok, lines, err) = webfm_stdin(&["classify", &model, "--device", "cpu", "--adapter", &p("cls")], "great fun\n");
    assert!(ok, "{err}");
    let labels: Vec<&str> = lines[0]["labels"].as_array().unwrap().iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(labels.len(), 2);
    assert!(labels.contains(&"good") && labels.contains(&"bad"), "{labels:?}");

    // A decoder: LoRA on the tiny Llama from prompt/completion and text lines.
    std::fs::write(p("text.jsonl"), "{\"prompt\": \"Q: two plus two? A:\", \"completion\": \" four\"}\n{\"text\": \"the cat sat on the mat\"}\n").unwrap();
    let llama = format!("{root}/tests/models/tiny-llama3");
    let out = webfm(&[
        "finetune",
        &llama,
        "--train",
        &p("text.jsonl"),
        "--eval",
        &p("text.jsonl"),
        "--method",
        "lora",
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--device",
        "cpu",
        "--out",
        &p("lora"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loss: Vec<f64> = r["train_loss"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!(r["eval_loss"].as_f64().unwrap() < loss[0], "training lowered the loss on its own data: {r}");
    let base = webfm(&["generate", &llama, "--prompt", "Q: two plus two? A:", "--max-new-tokens", "3", "--device", "cpu", "--logits", "4"]);
    let tuned =
        webfm(&["generate", &llama, "--prompt", "Q: two plus two? A:", "--max-new-tokens", "3", "--device", "cpu", "--logits", "4", "--adapter", &p("lora")]);
    assert!(tuned.status.success(), "{}", String::from_utf8_lossy(&tuned.stderr));
    let (b, t): (serde_json::Value, serde_json::Value) = (serde_json::from_slice(&base.stdout).unwrap(), serde_json::from_slice(&tuned.stdout).unwrap());
    assert_ne!(b["logits"], t["logits"], "the adapter changed nothing");

    // Bad input: mixed kinds, a label not seen in training, an empty file, an adapter for another model.
    std::fs::write(p("mixed.jsonl"), format!("{}\n{{\"text\": \"no label\"}}\n", rows[0])).unwrap();
    std::fs::write(p("unseen.jsonl"), "{\"text\": \"meh\", \"label\": \"neutral\"}\n").unwrap();
    std::fs::write(p("empty.jsonl"), "\n").unwrap();
    for (args, want) in [
        (vec!["--train", &p("mixed.jsonl"), "--method", "head"], "mixed example kinds"),
        (vec!["--train", &p("train.jsonl"), "--eval", &p("unseen.jsonl"), "--method", "head"], "\"neutral\" was not in the training set"),
        (vec!["--train", &p("empty.jsonl"), "--method", "head"], "no examples"),
        (vec!["--train", &p("train.jsonl"), "--method", "lora"], "\"head\" or \"head+lora\""),
    ] {
        let mut a = vec!["finetune", model.as_str(), "--device", "cpu", "--out"];
        let o = p("bad");
        a.push(&o);
        a.extend(args);
        let out = webfm(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{a:?}: {err}");
    }
    let (ok, _, err) = webfm_stdin(&["classify", &model, "--device", "cpu", "--adapter", &p("lora")], "x\n");
    assert!(!ok && err.contains("not a classifier adapter"), "{err}");
}

#[test]
fn convert_calibrate_runs_gptq_on_encoders_and_refuses_the_rest() {
    let dir = scratch("calibrate");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let calib = root.join("data/calibration.jsonl");
    let models = root.join("tests/models");
    // The tiny classifiers (hidden 32, intermediate 64): every encoder linear through GPTQ.
    for name in ["tiny-bert-cls", "tiny-distilbert-cls"] {
        let out = dir.join(name);
        let o = webfm(&[
            "convert",
            models.join(name).to_str().unwrap(),
            out.to_str().unwrap(),
            "--bits",
            "8",
            "--group",
            "32",
            "--calibrate",
            calib.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert!(err.contains("GPTQ-calibrated 12 linear layers on 39 texts"), "{name}: {err}");
        let (ok, lines, err) = webfm_stdin(&["classify", out.to_str().unwrap()], "I loved this movie\n");
        assert!(ok && lines.len() == 1, "{name}: {err}");
        assert!(lines[0]["labels"][0]["score"].as_f64().unwrap() > 0.0);
    }
    // Refused: a decoder, a GGUF, a file without texts, lines without "text".
    let bert = models.join("tiny-bert-cls");
    let bad_lines = dir.join("bad.jsonl");
    std::fs::write(&bad_lines, "{\"label\": \"x\"}\n").unwrap();
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    for (src, file, want) in [
        (models.join("tiny-llama3"), calib.clone(), "BERT-family encoders"),
        (bert.join("model.safetensors"), calib.clone(), "not a GGUF file"),
        (bert.clone(), bad_lines, "no \"text\" string"),
        (bert.clone(), empty, "no examples"),
    ] {
        let out = dir.join("refused");
        let o = webfm(&["convert", src.to_str().unwrap(), out.to_str().unwrap(), "--bits", "4", "--calibrate", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{}: {err}", src.display());
        assert!(!out.exists(), "nothing written for a refused conversion");
    }
}

#[test]
fn convert_mixed_keeps_values_and_late_ffn_weights_at_8_bits() {
    let dir = scratch("mixed");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let bert = models.join("tiny-bert-cls");
    let out = dir.join("bert");
    let o = webfm(&["convert", bert.to_str().unwrap(), out.to_str().unwrap(), "--bits", "4", "--group", "32", "--mixed"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // 2 layers: the last third is no layer, so the two value projections alone.
    assert!(err.contains("--mixed: 2 of 15 quantized weights at 8 bits"), "{err}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let q = &config["quantization"];
    assert_eq!((q["bits"].as_u64(), q["group_size"].as_u64()), (Some(4), Some(32)), "{q}");
    for l in 0..2 {
        assert_eq!(q[format!("bert.encoder.layer.{l}.attention.self.value")]["bits"].as_u64(), Some(8), "{q}");
    }
    let (ok, lines, err) = webfm_stdin(&["classify", out.to_str().unwrap()], "I loved this movie\n");
    assert!(ok && lines.len() == 1, "{err}");
    for (src, bits, want) in [(bert.clone(), "8", "needs --bits 4"), (models.join("tiny-llama3"), "4", "BERT-family encoders")] {
        let o = webfm(&["convert", src.to_str().unwrap(), dir.join("refused").to_str().unwrap(), "--bits", bits, "--mixed"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{}: {err}", src.display());
    }
}
