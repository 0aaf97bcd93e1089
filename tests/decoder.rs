//! Decoders against PyTorch + transformers (goldens made by
//! `tests/golden/make_tiny_decoders.py` and `make_decoder_golden.py`), on
//! the CPU path and on wgpu:
//! - tiny random GPT-2, Qwen2 (q/k/v biases) and Llama (llama3 rope scaling,
//!   1 KV head): logits at every position of one prompt and at the last of
//!   three, within `TINY_TOL`; 16 greedy tokens identical;
//! - SmolLM2-135M-Instruct converted from its GGUF with the weights kept
//!   quantized: the last position's logits (ids 0..255 and the reference's
//!   top 32) within 2e-3 absolute for 8 prompts, one through the chat
//!   template, and 32 greedy tokens identical for all 8, on both paths
//!   (lavapipe decodes SmolLM2 at about 0.7 tokens/s: the wgpu test takes a
//!   few minutes).

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use webfm::models::decoder::Decoder;
use webfm::models::files::load_dir;
use webfm::tasks::chat::ChatMessage;
use webfm::tasks::generate::{Finish, GenerateOptions, Generation};
use webfm::{Device, DeviceRequest};

/// Logits of the tiny models (|logit| up to ~15) against PyTorch's f32.
const TINY_TOL: f32 = 1e-4;
/// The bound for SmolLM2's logits (|logit| up to ~30).
const SMOLLM2_TOL: f32 = 2e-3;

fn gpu() -> Device {
    pollster::block_on(Device::new(DeviceRequest::WebGpu)).expect("a wgpu adapter (lavapipe)")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn golden(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/golden").join(name)).unwrap()).unwrap()
}

fn load(dir: &Path, device: &Device) -> Rc<Decoder> {
    let (files, params) = load_dir(dir, device).unwrap();
    Rc::new(Decoder::new(&files, &params).unwrap())
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn logits(model: &Decoder, ids: &[u32], all: bool) -> Vec<f32> {
    let mut cache = model.new_cache(ids.len()).unwrap();
    pollster::block_on(model.forward(ids, &mut cache, all).unwrap().to_vec_f32()).unwrap()
}

fn greedy(model: &Rc<Decoder>, prompt: Vec<u32>, n: usize) -> (Vec<u32>, String) {
    let opt = GenerateOptions { max_new_tokens: n, ignore_eos: true, ..Default::default() };
    let mut g = Generation::new(model.clone(), prompt, opt).unwrap();
    let mut text = String::new();
    while let Some(p) = pollster::block_on(g.next()).unwrap() {
        text.push_str(&p.text);
    }
    assert_eq!(g.finish, Some(Finish::Length));
    assert_eq!(text, g.text(), "the streamed pieces add up to the text");
    (g.ids.clone(), text)
}

#[test]
fn tiny_decoders_match_pytorch() {
    let g = golden("tiny_decoders.json");
    for (name, m) in g["models"].as_object().unwrap() {
        for device in [Device::Cpu, gpu()] {
            let model = load(&root().join("tests/models").join(name), &device);
            let what = |s: &str| format!("{name} on {}: {s}", device.kind());
            let vocab = model.info.vocab;
            for (i, case) in m["cases"].as_array().unwrap().iter().enumerate() {
                let prompt = case["prompt"].as_str().unwrap();
                let want_ids = ids(&case["prompt_ids"]);
                assert_eq!(model.encode(prompt).unwrap(), want_ids, "{}", what("prompt ids"));
                if i == 0 {
                    let all = logits(&model, &want_ids, true);
                    let want: Vec<f32> = case["all_logits"].as_array().unwrap().iter().flat_map(floats).collect();
                    let d = max_abs(&all, &want);
                    assert!(d <= TINY_TOL, "{}", what(&format!("logits at every position differ by {d}")));
                }
                let last = logits(&model, &want_ids, false);
                assert_eq!(last.len(), vocab);
                let d = max_abs(&last, &floats(&case["logits"]));
                assert!(d <= TINY_TOL, "{}", what(&format!("{prompt:?}: last logits differ by {d}")));
                let (got, _) = greedy(&model, want_ids, 16);
                assert_eq!(got, ids(&case["greedy_ids"]), "{}", what(&format!("{prompt:?}: greedy tokens")));
            }
        }
    }
}

#[test]
fn smollm2_matches_pytorch_with_quantized_weights_on_the_cpu() {
    smollm2_check(Device::Cpu);
}

#[test]
fn smollm2_matches_pytorch_with_quantized_weights_on_wgpu() {
    smollm2_check(gpu());
}

fn smollm2_check(device: Device) {
    let Some(dir) = common::smollm2_folder() else { return };
    let g = golden("smollm2_generate.json");
    let n = g["new_tokens"].as_u64().unwrap() as usize;
    let mut greedy_cases = 0;
    {
        let model = load(&dir, &device);
        assert_eq!(model.info.eos, ids(&g["eos_token_ids"]));
        let mut worst = 0f32;
        for case in g["cases"].as_array().unwrap() {
            let prompt = case["prompt"].as_str().unwrap();
            let what = |s: String| format!("SmolLM2 on {}, {prompt:?}: {s}", device.kind());
            if case["chat"].as_bool() == Some(true) {
                let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
                assert_eq!(model.apply_chat_template(&messages).unwrap(), prompt, "{}", what("chat template".into()));
            }
            let want_ids = ids(&case["prompt_ids"]);
            assert_eq!(model.encode(prompt).unwrap(), want_ids, "{}", what("prompt ids".into()));
            let l = logits(&model, &want_ids, false);
            let head = floats(&case["logits_head"]);
            let mut d = max_abs(&l[..head.len()], &head);
            for pair in case["top"].as_array().unwrap() {
                let (id, v) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap() as f32);
                d = d.max((l[id] - v).abs());
            }
            worst = worst.max(d);
            assert!(d <= SMOLLM2_TOL, "{}", what(format!("logits differ by {d}")));
            greedy_cases += 1;
            let (got, text) = greedy(&model, want_ids, n);
            assert_eq!(got, ids(&case["greedy_ids"]), "{}", what("greedy tokens".into()));
            assert_eq!(text, case["greedy_text"].as_str().unwrap(), "{}", what("greedy text".into()));
        }
        eprintln!("SmolLM2 on {}: largest logit difference {worst}; {greedy_cases} greedy cases", device.kind());
    }
    assert_eq!(greedy_cases, g["cases"].as_array().unwrap().len());
}

fn run(model: &Rc<Decoder>, prompt: &[u32], opt: GenerateOptions) -> (Vec<u32>, String, Option<Finish>) {
    let mut g = Generation::new(model.clone(), prompt.to_vec(), opt).unwrap();
    let mut text = String::new();
    while let Some(p) = pollster::block_on(g.next()).unwrap() {
        text.push_str(&p.text);
    }
    (g.ids.clone(), text, g.finish)
}

#[test]
fn sampling_is_repeatable_by_seed_and_options_do_what_they_say() {
    let g = golden("tiny_decoders.json");
    let case = &g["models"]["tiny-qwen2"]["cases"][0];
    let prompt = ids(&case["prompt_ids"]);
    let greedy_ids = ids(&case["greedy_ids"]);
    let sampled = |seed| GenerateOptions { max_new_tokens: 16, temperature: 1.0, top_p: 0.95, seed, ignore_eos: true, ..Default::default() };
    for device in [Device::Cpu, gpu()] {
        let model = load(&root().join("tests/models/tiny-qwen2"), &device);
        let kind = device.kind();
        // Same seed, same tokens; another seed, other tokens (16 draws at temperature 1).
        let (a, _, _) = run(&model, &prompt, sampled(7));
        assert_eq!(a, run(&model, &prompt, sampled(7)).0, "{kind}: seed 7 twice");
        assert_ne!(a, run(&model, &prompt, sampled(8)).0, "{kind}: seeds 7 and 8");
        // top-k 1 leaves only the greedy choice, whatever the temperature.
        let top1 = GenerateOptions { top_k: 1, temperature: 3.0, ..sampled(1) };
        assert_eq!(run(&model, &prompt, top1).0, greedy_ids, "{kind}: top-k 1");
        // A tiny top-p keeps only the most likely token too.
        let top_p = GenerateOptions { top_p: 1e-6, ..sampled(2) };
        assert_eq!(run(&model, &prompt, top_p).0, greedy_ids, "{kind}: top-p 1e-6");
        // A stop string ends the text before it; the tokens up to it were generated.
        let greedy = GenerateOptions { max_new_tokens: 16, ignore_eos: true, ..Default::default() };
        let (_, full, _) = run(&model, &prompt, greedy.clone());
        let chars: Vec<char> = full.chars().collect();
        let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
        let (_, text, finish) = run(&model, &prompt, GenerateOptions { stop: vec![stop.clone()], ..greedy.clone() });
        assert_eq!(finish, Some(Finish::Stop), "{kind}: stop {stop:?}");
        assert_eq!(text, full[..full.find(&stop).unwrap()], "{kind}: text before the stop string {stop:?}");
        // The end-of-sequence id ends generation (without ignore_eos), and is not in the text.
        let eos_first = GenerateOptions { max_new_tokens: 16, ..Default::default() };
        let (got, _, finish) = run(&model, &prompt, eos_first);
        if let Some(at) = greedy_ids.iter().position(|&t| model.info.eos.contains(&t)) {
            assert_eq!((got.len(), finish), (at + 1, Some(Finish::Eos)), "{kind}");
        } else {
            assert_eq!(finish, Some(Finish::Length), "{kind}");
        }
    }
    // The repetition penalty changes the output, and the same way on the GPU (ids only read back) and the CPU.
    let pen = GenerateOptions { max_new_tokens: 16, repetition_penalty: 1.5, ignore_eos: true, ..Default::default() };
    let cpu = run(&load(&root().join("tests/models/tiny-qwen2"), &Device::Cpu), &prompt, pen.clone()).0;
    let wgpu = run(&load(&root().join("tests/models/tiny-qwen2"), &gpu()), &prompt, pen).0;
    assert_eq!(cpu, wgpu, "repetition penalty on both paths");
    assert_ne!(cpu, greedy_ids, "the penalty changed nothing");
}
