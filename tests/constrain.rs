//! Constrained decoding (llguidance's token masks): on the tiny random
//! Qwen2 (whose logits favour no valid output at all, so the mask does all
//! the work) and on SmolLM2, greedy and sampled, on the CPU path and wgpu,
//! every output parses and fits its schema, regular expression or grammar;
//! bad grammars are refused before anything runs.

mod common;

use serde_json::{json, Value};
use std::path::Path;
use std::rc::Rc;
use webfm::models::decoder::Decoder;
use webfm::models::files::load_dir;
use webfm::tasks::constrain::Grammar;
use webfm::tasks::generate::{Finish, GenerateOptions, Generation};
use webfm::Device;

fn load(dir: &Path, device: &Device) -> Rc<Decoder> {
    let (files, params) = load_dir(dir, device).unwrap();
    Rc::new(Decoder::new(&files, &params).unwrap())
}

fn tiny(device: &Device) -> Rc<Decoder> {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/tiny-qwen2"), device)
}

fn run(model: &Rc<Decoder>, prompt: &str, opt: GenerateOptions) -> (String, Option<Finish>) {
    let ids = model.encode(prompt).unwrap();
    let mut g = Generation::new(model.clone(), ids, opt).unwrap();
    while pollster::block_on(g.next()).unwrap().is_some() {}
    (g.text().to_string(), g.finish)
}

/// Greedy, then sampled at temperature 1 with three seeds.
fn settings(grammar: Grammar, max_new_tokens: usize) -> Vec<GenerateOptions> {
    let base = GenerateOptions { max_new_tokens, grammar: Some(grammar), ..Default::default() };
    let mut all = vec![base.clone()];
    all.extend((1..=3).map(|seed| GenerateOptions { temperature: 1.0, seed, ..base.clone() }));
    all
}

/// Bounded everywhere, so that even a random model's output ends within the budget.
fn record_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "kind": { "enum": ["cat", "dog", "fish"] },
            "age": { "type": "integer", "minimum": 0, "maximum": 20 },
            "ok": { "type": "boolean" },
            "tags": { "type": "array", "items": { "enum": ["a", "b"] }, "minItems": 1, "maxItems": 3 },
            "home": {
                "type": "object",
                "properties": { "zip": { "type": "string", "pattern": "^[0-9]{4}$" } },
                "required": ["zip"],
                "additionalProperties": false
            }
        },
        "required": ["kind", "age", "ok", "tags", "home"],
        "additionalProperties": false
    })
}

fn check_record(v: &Value, what: &str) {
    let o = v.as_object().unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    assert_eq!(o.len(), 5, "{what}: {v}");
    assert!(["cat", "dog", "fish"].contains(&o["kind"].as_str().unwrap()), "{what}: {v}");
    let age = o["age"].as_i64().unwrap_or_else(|| panic!("{what}: age {v}"));
    assert!((0..=20).contains(&age), "{what}: {v}");
    assert!(o["ok"].is_boolean(), "{what}: {v}");
    let tags = o["tags"].as_array().unwrap();
    assert!((1..=3).contains(&tags.len()) && tags.iter().all(|t| t == "a" || t == "b"), "{what}: {v}");
    let home = o["home"].as_object().unwrap();
    let zip = home["zip"].as_str().unwrap();
    assert!(home.len() == 1 && zip.len() == 4 && zip.bytes().all(|b| b.is_ascii_digit()), "{what}: {v}");
}

fn records_on(device: Device) {
    let model = tiny(&device);
    for opt in settings(Grammar::JsonSchema(record_schema()), 100) {
        let what = format!("{} T={} seed {}", device.kind(), opt.temperature, opt.seed);
        let (text, finish) = run(&model, "hello", opt);
        assert_eq!(finish, Some(Finish::Eos), "{what}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
        check_record(&v, &what);
    }
}

#[test]
fn a_random_model_writes_only_records_its_schema_allows_on_the_cpu() {
    records_on(Device::Cpu);
}

#[test]
fn a_random_model_writes_only_records_its_schema_allows_on_wgpu() {
    records_on(common::gpu());
}

#[test]
fn regular_expressions_and_lark_grammars_hold_and_json_object_is_an_object() {
    let model = tiny(&Device::Cpu);
    for opt in settings(Grammar::Regex("[0-9]{3}-[a-z]{2}( ok)?".into()), 20) {
        let (text, _) = run(&model, "hello", opt);
        let b = text.as_bytes();
        assert!(matches!(text.len(), 6 | 9), "{text:?}");
        assert!(b[..3].iter().all(u8::is_ascii_digit) && b[3] == b'-' && b[4..6].iter().all(u8::is_ascii_lowercase), "{text:?}");
        assert!(text.len() == 6 || &text[6..] == " ok", "{text:?}");
    }
    let lark = r#"start: "yes" | "no" | "n=" NUM
NUM: /[1-9][0-9]?/"#;
    for opt in settings(Grammar::Lark(lark.into()), 10) {
        let (text, finish) = run(&model, "hello", opt);
        let n = text.strip_prefix("n=").map(|d| d.parse::<u32>().unwrap());
        assert!(text == "yes" || text == "no" || n.is_some_and(|n| (1..100).contains(&n)), "{text:?}");
        assert_eq!(finish, Some(Finish::Eos));
    }
    // Any object: an unbounded grammar, so only a finished one is checked.
    let mut finished = 0;
    for opt in settings(Grammar::JsonObject, 60) {
        let (text, finish) = run(&model, "hello", opt);
        if finish == Some(Finish::Eos) {
            finished += 1;
            assert!(serde_json::from_str::<Value>(&text).unwrap().is_object(), "{text:?}");
        } else {
            assert!(text.starts_with('{'), "{text:?}");
        }
    }
    eprintln!("json_object: {finished} of 4 finished within 60 tokens");
}

#[test]
fn bad_grammars_are_refused_before_generation() {
    let model = tiny(&Device::Cpu);
    let ids = model.encode("hello").unwrap();
    let try_new = |g: Grammar| {
        Generation::new(model.clone(), ids.clone(), GenerateOptions { max_new_tokens: 8, grammar: Some(g), ..Default::default() }).err().map(|e| e.to_string())
    };
    let e = try_new(Grammar::Regex("[0-9".into())).expect("an unclosed class");
    assert!(e.contains("grammar"), "{e}");
    let e = try_new(Grammar::JsonSchema(json!({ "type": "integer", "minimum": 5, "maximum": 1 }))).expect("an empty range");
    assert!(e.contains("grammar"), "{e}");
    let e = try_new(Grammar::JsonSchema(json!(["not", "an", "object"]))).expect("not a schema");
    assert!(e.contains("json schema: expected an object"), "{e}");
    let e = try_new(Grammar::Lark("start: missing_rule".into())).expect("an undefined rule");
    assert!(e.contains("grammar"), "{e}");
    let both = GenerateOptions { max_new_tokens: 8, grammar: Some(Grammar::JsonObject), ignore_eos: true, ..Default::default() };
    let e = Generation::new(model.clone(), ids.clone(), both).err().unwrap().to_string();
    assert!(e.contains("ignoreEos cannot be used with a grammar"), "{e}");
}

#[test]
fn smollm2_answers_in_its_schema_on_the_cpu() {
    let Some(dir) = common::smollm2_folder() else { return };
    let model = load(&dir, &Device::Cpu);
    let schema = json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "maxLength": 30 },
            "age": { "type": "integer", "minimum": 0, "maximum": 120 },
            "pets": { "type": "array", "items": { "enum": ["cat", "dog", "bird"] }, "maxItems": 3 }
        },
        "required": ["name", "age", "pets"],
        "additionalProperties": false
    });
    let prompt = model
        .apply_chat_template(&[webfm::tasks::chat::ChatMessage { role: "user".into(), content: "Describe a person and their pets as JSON.".into() }])
        .unwrap();
    for opt in settings(Grammar::JsonSchema(schema), 80).into_iter().take(2) {
        let (text, finish) = run(&model, &prompt, opt);
        assert_eq!(finish, Some(Finish::Eos), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(v["name"].as_str().is_some_and(|s| s.chars().count() <= 30), "{v}");
        assert!(v["age"].as_u64().is_some_and(|a| a <= 120), "{v}");
        assert!(v["pets"].as_array().is_some_and(|p| p.len() <= 3 && p.iter().all(|x| ["cat", "dog", "bird"].contains(&x.as_str().unwrap()))), "{v}");
    }
}
