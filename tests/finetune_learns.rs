//! Fine-tuning learns: all-MiniLM-L6-v2 on the sentiment set
//! (`tests/data/sentiment/`, 96 train / 40 held-out reviews) reaches at
//! least 85% held-out accuracy with a head alone and with head + LoRA, on
//! the CPU path, from a zero-shot baseline that scores lower; SmolLM2's LoRA
//! lowers the held-out loss of a small text set. The loss curves are printed
//! (`cargo test --test finetune_learns -- --nocapture`).

mod common;

use std::path::Path;

use serde_json::Value;
use webfm::models::bert::{Bert, EncodeOptions};
use webfm::models::decoder::Decoder;
use webfm::models::files::load_dir;
use webfm::train::run::{ClassifierRun, Method, Options, TextItem, TextRun};
use webfm::Device;

pub fn sentiment(split: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/sentiment/{split}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["text"].as_str().unwrap().to_string(), v["label"].as_str().unwrap().to_string())
        })
        .collect()
}

fn curve(loss: &[f32]) -> String {
    loss.iter().map(|l| format!("{l:.3}")).collect::<Vec<_>>().join(" ")
}

fn zero_shot_accuracy(model: &Bert, test: &[(String, String)]) -> f32 {
    let labels = ["positive", "negative"];
    let right = test
        .iter()
        .filter(|(t, l)| pollster::block_on(model.zero_shot(t, &labels, "This review is {}.", EncodeOptions::default())).unwrap()[0].label == *l)
        .count();
    right as f32 / test.len() as f32
}

fn train(model: &Bert, opt: &Options, what: &str) -> f32 {
    let (train, test) = (sentiment("train"), sentiment("test"));
    let mut run = ClassifierRun::new(model, &train, opt).unwrap();
    while let Some(s) = pollster::block_on(run.step()).unwrap() {
        assert!(s.loss.is_finite(), "{what}: step {} loss {}", s.step, s.loss);
    }
    let (acc, loss) = pollster::block_on(run.evaluate(&test)).unwrap();
    eprintln!(
        "{what}: held-out accuracy {:.1}% (loss {loss:.3}), {:.1} examples/s; train loss per step: {}",
        acc * 100.0,
        run.examples_per_second(),
        curve(run.train_loss())
    );
    acc
}

#[test]
fn minilm_sentiment_head_and_lora_reach_85_percent_on_the_cpu() {
    let Some(dir) = common::minilm_folder() else { return };
    let (files, params) = load_dir(&dir, &Device::Cpu).unwrap();
    let model = Bert::new(&files, &params).unwrap();
    let base = zero_shot_accuracy(&model, &sentiment("test"));
    eprintln!("zero-shot baseline: {:.1}%", base * 100.0);
    let head = train(&model, &Options { method: Method::Head, lr: Some(1e-2), epochs: Some(8), batch_size: 8, seed: 1, ..Options::default() }, "head");
    let lora = train(&model, &Options { method: Method::HeadLora, lr: Some(2e-3), epochs: Some(3), batch_size: 8, seed: 1, ..Options::default() }, "head+lora");
    for (what, acc) in [("head", head), ("head+lora", lora)] {
        assert!(acc >= 0.85, "{what}: held-out accuracy {acc} < 0.85");
        assert!(acc > base, "{what}: {acc} is no better than zero-shot's {base}");
    }
}

/// The defaults as a new user meets them (issue 20): nothing but the method,
/// on 60 training examples (3 epochs used to leave a head at 75%).
#[test]
fn minilm_sentiment_defaults_train_a_head_and_head_lora_on_60_examples() {
    let Some(dir) = common::minilm_folder() else { return };
    let (files, params) = load_dir(&dir, &Device::Cpu).unwrap();
    let model = Bert::new(&files, &params).unwrap();
    let (train, test) = (sentiment("train"), sentiment("test"));
    let train = &train[..60];
    for method in [Method::Head, Method::HeadLora] {
        let opt = Options { method, ..Options::default() };
        assert_eq!(opt.epochs_for(train.len()), 8, "60 examples in batches of 8: 64 steps in 8 epochs");
        let mut run = ClassifierRun::new(&model, train, &opt).unwrap();
        let mut steps = 0;
        while pollster::block_on(run.step()).unwrap().is_some() {
            steps += 1;
        }
        let (acc, loss) = pollster::block_on(run.evaluate(&test)).unwrap();
        eprintln!("{method:?} with defaults (lr {}, {steps} steps): held-out accuracy {:.1}% (loss {loss:.3})", opt.lr(), acc * 100.0);
        assert_eq!(steps, 64);
        assert!(acc >= 0.85, "{method:?} with the defaults: held-out accuracy {acc} < 0.85 on {} reviews", test.len());
    }
}

#[test]
fn smollm2_lora_lowers_held_out_loss() {
    let Some(dir) = common::smollm2_folder() else { return };
    let (files, params) = load_dir(&dir, &Device::Cpu).unwrap();
    let model = Decoder::new(&files, &params).unwrap();
    let qa = |q: &str, a: &str| TextItem::Completion { prompt: format!("Q: {q}\nA:"), completion: format!(" {a}") };
    // A tiny task with a fixed answer style: the colour of things, in one word.
    let train = vec![
        qa("What colour is the sky on a clear day?", "Blue."),
        qa("What colour is fresh grass?", "Green."),
        qa("What colour is snow?", "White."),
        qa("What colour is coal?", "Black."),
        qa("What colour is a ripe banana?", "Yellow."),
        qa("What colour is a ripe tomato?", "Red."),
        qa("What colour is an orange?", "Orange."),
        qa("What colour are most clouds?", "White."),
    ];
    let held_out = vec![
        qa("What colour is a lemon?", "Yellow."),
        qa("What colour is milk?", "White."),
        qa("What colour is a strawberry?", "Red."),
        qa("What colour is the sea?", "Blue."),
    ];
    let opt = Options { method: Method::Lora, lr: Some(2e-3), epochs: Some(4), batch_size: 4, seed: 1, rank: 8, alpha: 16.0, ..Options::default() };
    let mut run = TextRun::new(&model, &train, &opt).unwrap();
    let before = pollster::block_on(run.evaluate(&held_out)).unwrap();
    while pollster::block_on(run.step()).unwrap().is_some() {}
    let after = pollster::block_on(run.evaluate(&held_out)).unwrap();
    eprintln!(
        "SmolLM2 LoRA: held-out loss {before:.3} -> {after:.3}, {:.1} examples/s; train loss per step: {}",
        run.examples_per_second(),
        curve(run.train_loss())
    );
    assert!(after < before * 0.8, "held-out loss {before} -> {after}: not lowered by a fifth");
}
