//! Chat prompts: a decoder's chat template (minijinja, as in
//! `tokenizer_config.json`) applied to a list of turns.

use crate::error::{Error, Result};
use crate::models::decoder::Decoder;

/// One chat turn.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl Decoder {
    /// The chat template applied to `messages` (`{role, content}`), ending
    /// with the assistant's turn opened.
    pub fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String> {
        let json = serde_json::to_value(messages).map_err(|e| Error::InvalidArgument(format!("chat: {e}")))?;
        self.apply_chat_template_json(&json, None)
    }

    /// The chat template applied to messages as OpenAI's API has them
    /// (`{role, content}`, an assistant's `tool_calls`, a tool's
    /// `tool_call_id`), with `tools` (function definitions) for the
    /// templates that take them.
    pub fn apply_chat_template_json(&self, messages: &serde_json::Value, tools: Option<&serde_json::Value>) -> Result<String> {
        let template = self
            .info
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::InvalidArgument("chat: this model has no chat template (tokenizer_config.json has no \"chat_template\")".into()))?;
        let list = messages.as_array().ok_or_else(|| Error::InvalidArgument("chat: messages must be an array of {role, content}".into()))?;
        if list.is_empty() {
            return Err(Error::InvalidArgument("chat: no messages".into()));
        }
        for (i, m) in list.iter().enumerate() {
            let role = m.get("role").and_then(|r| r.as_str()).unwrap_or("");
            if !matches!(role, "system" | "user" | "assistant" | "tool") {
                return Err(Error::InvalidArgument(format!(
                    "chat: messages[{i}]: unknown role {:?}: expected \"system\", \"user\", \"assistant\" or \"tool\"",
                    m.get("role")
                )));
            }
            let content = m.get("content").unwrap_or(&serde_json::Value::Null);
            let calls = m.get("tool_calls").is_some_and(|c| c.is_array());
            if !(content.is_string() || (content.is_null() && calls)) {
                return Err(Error::InvalidArgument(format!("chat: messages[{i}]: content must be a string (or null beside tool_calls), got {content}")));
            }
        }
        if let Some(t) = tools {
            if !t.is_array() {
                return Err(Error::InvalidArgument("chat: tools must be an array of {type: \"function\", function: {name, description, parameters}}".into()));
            }
        }
        // As transformers renders them: trimmed blocks, and `tojson` as Python's
        // `json.dumps` (", " and ": " separators, keys in their order, no escaping).
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", python_json);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        let err = |e: minijinja::Error| Error::InvalidArgument(format!("chat template: {e}"));
        env.add_template("chat", template).map_err(err)?;
        let ctx = minijinja::context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => true,
            bos_token => self.info.bos_token.clone().unwrap_or_default(),
            eos_token => self.info.eos_token.clone().unwrap_or_default(),
        };
        env.get_template("chat").map_err(err)?.render(ctx).map_err(err)
    }
}

/// `json.dumps(value, ensure_ascii=False)`, or with `indent=N`.
fn python_json(value: minijinja::Value, kwargs: minijinja::value::Kwargs) -> std::result::Result<String, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let v = serde_json::to_value(&value).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = Vec::new();
    let result = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            serde::Serialize::serialize(&v, &mut serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(&pad)))
        }
        None => serde::Serialize::serialize(&v, &mut serde_json::Serializer::with_formatter(&mut out, PythonFormatter)),
    };
    result.map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))?;
    String::from_utf8(out).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// serde_json's compact output with Python's default separators.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}
