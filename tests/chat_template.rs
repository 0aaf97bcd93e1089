//! Chat templates with tools, against jinja2 as transformers renders them
//! (goldens by `tests/golden/make_chat_template_golden.py`): Qwen2.5's real
//! template (from Qwen2.5-Coder-0.5B-Instruct's GGUF) with tools, an
//! assistant's tool calls and a tool's response, and a plain conversation.

use serde_json::Value;
use std::path::Path;
use webfm::models::decoder::Decoder;
use webfm::models::files::load_dir;
use webfm::Device;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// tiny-qwen2 with Qwen2.5's chat template in its tokenizer_config.json.
fn qwen_templated() -> Decoder {
    let (mut files, params) = load_dir(&root().join("tests/models/tiny-qwen2"), &Device::Cpu).unwrap();
    let template = std::fs::read_to_string(root().join("tests/data/qwen2.5-chat-template.jinja")).unwrap();
    let mut tc: Value = serde_json::from_slice(&files.extra["tokenizer_config.json"]).unwrap();
    tc["chat_template"] = Value::String(template);
    tc["eos_token"] = Value::String("<|im_end|>".into());
    files.extra.insert("tokenizer_config.json".into(), serde_json::to_vec(&tc).unwrap());
    Decoder::new(&files, &params).unwrap()
}

#[test]
fn qwen25_template_renders_tools_calls_and_responses_as_transformers_does() {
    let model = qwen_templated();
    let golden: Value = serde_json::from_slice(&std::fs::read(root().join("tests/golden/qwen2.5_chat_template.json")).unwrap()).unwrap();
    let cases = golden.as_object().unwrap();
    assert_eq!(cases.len(), 4);
    for (name, case) in cases {
        let tools = case["tools"].is_array().then_some(&case["tools"]);
        let got = model.apply_chat_template_json(&case["messages"], tools).unwrap();
        assert_eq!(got, case["prompt"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn bad_messages_and_tools_are_named() {
    let model = qwen_templated();
    let e = |m: Value, t: Option<Value>| model.apply_chat_template_json(&m, t.as_ref()).unwrap_err().to_string();
    assert!(e(serde_json::json!([{"role": "robot", "content": "x"}]), None).contains("messages[0]: unknown role"));
    assert!(e(serde_json::json!([{"role": "user"}]), None).contains("messages[0]: content must be a string"));
    assert!(e(serde_json::json!([{"role": "user", "content": 3}]), None).contains("content must be a string"));
    assert!(e(serde_json::json!({"role": "user"}), None).contains("messages must be an array"));
    assert!(e(serde_json::json!([{"role": "user", "content": "x"}]), Some(serde_json::json!({"name": "f"}))).contains("tools must be an array"));
}
