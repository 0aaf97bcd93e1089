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
        let template = self
            .info
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::InvalidArgument("chat: this model has no chat template (tokenizer_config.json has no \"chat_template\")".into()))?;
        if messages.is_empty() {
            return Err(Error::InvalidArgument("chat: no messages".into()));
        }
        for m in messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "tool") {
                return Err(Error::InvalidArgument(format!("chat: unknown role {:?}: expected \"system\", \"user\", \"assistant\" or \"tool\"", m.role)));
            }
        }
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        let err = |e: minijinja::Error| Error::InvalidArgument(format!("chat template: {e}"));
        env.add_template("chat", template).map_err(err)?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.info.bos_token.clone().unwrap_or_default(),
            eos_token => self.info.eos_token.clone().unwrap_or_default(),
        };
        env.get_template("chat").map_err(err)?.render(ctx).map_err(err)
    }
}
