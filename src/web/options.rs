//! The option objects of the wasm API as typed structs: each JS object is
//! read into one of them, and a field the struct does not have is an error
//! that names it and lists the valid ones (`generate options: unknown field
//! `max_new_tokens`, expected one of `maxNewTokens`, ...`).
//!
//! serde-wasm-bindgen alone cannot do this: it reads a struct by looking up
//! the struct's own field names, so it never sees the others and
//! `deny_unknown_fields` never fires (serde-wasm-bindgen issue #39). Here the
//! object's own keys are handed to serde as a map instead, each value read by
//! serde-wasm-bindgen, so serde's derive checks every key. Values serde cannot
//! hold (functions, `AbortSignal`s, example lists) pass through as `JsValue`s
//! (`serde_wasm_bindgen::preserve`) and still count as known fields.

use js_sys::{Array, Function, Reflect};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{Error, Result};

/// Reads `v` (an options object, or `undefined`/`null` for the defaults) into
/// `T`; errors start with `what` ("generate options").
pub(super) fn parse<T: DeserializeOwned + Default>(what: &str, v: &JsValue) -> Result<T> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    if !v.is_object() || Array::is_array(v) {
        return Err(Error::InvalidArgument(format!("{what}: expected an object, got {}", describe(v))));
    }
    T::deserialize(Object(v.clone())).map_err(|e| Error::InvalidArgument(format!("{what}: {e}")))
}

fn describe(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        format!("the string {s:?}")
    } else if Array::is_array(v) {
        "an array".into()
    } else if v.is_function() {
        "a function".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}

/// A JS object, read as a map of its own enumerable keys.
struct Object(JsValue);

impl<'de> Deserializer<'de> for Object {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, Self::Error> {
        let keys: Vec<String> = js_sys::Object::keys(self.0.unchecked_ref::<js_sys::Object>()).iter().filter_map(|k| k.as_string()).collect();
        visitor.visit_map(Entries { obj: self.0, keys: keys.into_iter(), value: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Entries {
    obj: JsValue,
    keys: std::vec::IntoIter<String>,
    /// The key just read and its value, for `next_value_seed`.
    value: Option<(String, JsValue)>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = de::value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> std::result::Result<Option<K::Value>, Self::Error> {
        let Some(key) = self.keys.next() else { return Ok(None) };
        // An unknown key fails here, in serde's derived field visitor.
        let k = seed.deserialize(key.as_str().into_deserializer())?;
        let value = Reflect::get(&self.obj, &JsValue::from_str(&key)).unwrap_or(JsValue::UNDEFINED);
        self.value = Some((key, value));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> std::result::Result<V::Value, Self::Error> {
        let (key, value) = self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(serde_wasm_bindgen::Deserializer::from(value)).map_err(|e| de::Error::custom(format_args!("{key}: {}", message(e))))
    }
}

/// The text of a serde-wasm-bindgen error (a JS `Error`), without `Error: `.
fn message(e: serde_wasm_bindgen::Error) -> String {
    let v = JsValue::from(e);
    v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| v.as_string()).unwrap_or_else(|| format!("{v:?}"))
}

/// A whole number ≥ 0 (JS has only doubles): `maxNewTokens: 1.5` is refused, not cut.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> std::result::Result<Option<T>, D::Error> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE => {
            T::try_from(n as u64).map(Some).map_err(|_| de::Error::custom(format_args!("{n} is too large")))
        }
        Some(n) => Err(de::Error::custom(format_args!("must be a whole number ≥ 0, got {n}"))),
    }
}

/// The value as it is (`undefined` and `null`: absent).
fn js<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<JsValue>, D::Error> {
    let v: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
    Ok(Some(v).filter(|v| !v.is_undefined() && !v.is_null()))
}

/// A callback.
fn function<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Function>, D::Error> {
    match js(d)? {
        None => Ok(None),
        Some(v) => v.dyn_into::<Function>().map(Some).map_err(|v| de::Error::custom(format_args!("expected a function, got {}", describe(&v)))),
    }
}

/// An `AbortSignal` (anything with an `aborted` property will do).
fn signal<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<JsValue>, D::Error> {
    match js(d)? {
        Some(v) if !v.is_object() => Err(de::Error::custom(format_args!("expected an AbortSignal, got {}", describe(&v)))),
        other => Ok(other),
    }
}

/// A string or a list of strings.
fn strings<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
            Ok(Some(vec![s.to_string()]))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(OneOrMany)
}

/// `Model.load`, `TextModel.load` and `loadWeights`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LoadOptions {
    /// "auto" (default), "webgpu" or "cpu".
    pub device: Option<String>,
    /// Quantize float weights on load (4 or 8), in groups of `group` (64).
    #[serde(default, deserialize_with = "whole")]
    pub bits: Option<u32>,
    #[serde(default, deserialize_with = "whole")]
    pub group: Option<usize>,
    /// `({file, loaded, total}) => void`.
    #[serde(default, deserialize_with = "function")]
    pub on_progress: Option<Function>,
    /// `(url) => Promise<Response>`, used instead of the global `fetch`.
    #[serde(default, deserialize_with = "function")]
    pub fetch: Option<Function>,
}

/// A model given file by file (`ModelSource` in index.d.ts): only checked
/// here, so a misspelt file name is not silently a missing optional file;
/// `Source` reads the files.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct SourceFiles {
    #[serde(default, deserialize_with = "js")]
    pub config: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub tokenizer: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub weights: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub pooling: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub sentence_config: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub modules: Option<JsValue>,
    #[serde(default, deserialize_with = "js")]
    pub tokenizer_config: Option<JsValue>,
}

/// `Model.tokenize`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EncodeOptions {
    pub truncate: Option<bool>,
    #[serde(default, deserialize_with = "whole")]
    pub max_tokens: Option<usize>,
}

impl EncodeOptions {
    pub(super) fn get(&self) -> crate::models::bert::EncodeOptions {
        encode(self.truncate, self.max_tokens)
    }
}

fn encode(truncate: Option<bool>, max_tokens: Option<usize>) -> crate::models::bert::EncodeOptions {
    crate::models::bert::EncodeOptions { truncate: truncate.unwrap_or(true), max_tokens }
}

// `EmbedOptions`, `ClassifyOptions` and `ZeroShotOptions` repeat the
// `EncodeOptions` fields: `#[serde(flatten)]` and `deny_unknown_fields` do not
// work together (serde issue #1358).

/// `Model.embed`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EmbedOptions {
    pub normalize: Option<bool>,
    /// "mean" or "cls".
    pub pooling: Option<String>,
    pub truncate: Option<bool>,
    #[serde(default, deserialize_with = "whole")]
    pub max_tokens: Option<usize>,
}

impl EmbedOptions {
    pub(super) fn encode(&self) -> crate::models::bert::EncodeOptions {
        encode(self.truncate, self.max_tokens)
    }
}

/// `Model.classify`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClassifyOptions {
    #[serde(default, deserialize_with = "whole")]
    pub top_k: Option<usize>,
    pub truncate: Option<bool>,
    #[serde(default, deserialize_with = "whole")]
    pub max_tokens: Option<usize>,
}

impl ClassifyOptions {
    pub(super) fn encode(&self) -> crate::models::bert::EncodeOptions {
        encode(self.truncate, self.max_tokens)
    }
}

/// `Model.zeroShot`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ZeroShotOptions {
    /// The hypothesis each label is put into at `{}`.
    pub template: Option<String>,
    pub truncate: Option<bool>,
    #[serde(default, deserialize_with = "whole")]
    pub max_tokens: Option<usize>,
}

impl ZeroShotOptions {
    pub(super) fn encode(&self) -> crate::models::bert::EncodeOptions {
        encode(self.truncate, self.max_tokens)
    }
}

/// `TextModel.generate`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GenerateOptions {
    #[serde(default, deserialize_with = "whole")]
    pub max_new_tokens: Option<usize>,
    pub temperature: Option<f32>,
    #[serde(default, deserialize_with = "whole")]
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    #[serde(default, deserialize_with = "whole")]
    pub seed: Option<u64>,
    #[serde(default, deserialize_with = "strings")]
    pub stop: Option<Vec<String>>,
    #[serde(default, deserialize_with = "signal")]
    pub signal: Option<JsValue>,
    /// `(id) => void`, each new token id as soon as it is known.
    #[serde(default, deserialize_with = "function")]
    pub on_token: Option<Function>,
    pub ignore_eos: Option<bool>,
    /// A JSON schema the output must be valid for, or `true` for any JSON object.
    #[serde(default, deserialize_with = "js")]
    pub json_schema: Option<JsValue>,
    /// A regular expression the whole output must match.
    pub regex: Option<String>,
    /// A Lark grammar (llguidance's dialect) the output must match.
    pub grammar: Option<String>,
}

impl GenerateOptions {
    pub(super) fn get(&self) -> Result<crate::tasks::generate::GenerateOptions> {
        let d = crate::tasks::generate::GenerateOptions::default();
        Ok(crate::tasks::generate::GenerateOptions {
            max_new_tokens: self.max_new_tokens.unwrap_or(d.max_new_tokens),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(0),
            top_p: self.top_p.unwrap_or(d.top_p),
            repetition_penalty: self.repetition_penalty.unwrap_or(d.repetition_penalty),
            seed: self.seed.unwrap_or(0),
            stop: self.stop.clone().unwrap_or_default(),
            ignore_eos: self.ignore_eos.unwrap_or(false),
            grammar: self.grammar()?,
        })
    }

    /// `jsonSchema`, `regex` or `grammar`: at most one.
    fn grammar(&self) -> Result<Option<crate::tasks::constrain::Grammar>> {
        use crate::tasks::constrain::Grammar;
        let mut got = Vec::new();
        if let Some(v) = &self.json_schema {
            if v.as_bool() == Some(true) {
                got.push(Grammar::JsonObject);
            } else if v.is_object() {
                let text = js_sys::JSON::stringify(v).map_err(|_| Error::InvalidArgument("generate: jsonSchema is not JSON-serialisable".into()))?;
                let schema = serde_json::from_str(&String::from(text)).map_err(|e| Error::InvalidArgument(format!("generate: jsonSchema: {e}")))?;
                got.push(Grammar::JsonSchema(schema));
            } else if !(v.is_undefined() || v.is_null() || v.as_bool() == Some(false)) {
                return Err(Error::InvalidArgument("generate: jsonSchema must be a JSON schema object or true (any JSON object)".into()));
            }
        }
        if let Some(r) = &self.regex {
            got.push(Grammar::Regex(r.clone()));
        }
        if let Some(g) = &self.grammar {
            got.push(Grammar::Lark(g.clone()));
        }
        if got.len() > 1 {
            return Err(Error::InvalidArgument("generate: give at most one of jsonSchema, regex and grammar".into()));
        }
        Ok(got.pop())
    }
}

/// `TextModel.applyChatTemplate`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChatTemplateOptions {
    /// OpenAI-style tool definitions, for the templates that render them.
    #[serde(default, deserialize_with = "js")]
    pub tools: Option<JsValue>,
}

/// `TextModel.logits`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LogitsOptions {
    /// Every position's logits, not only the last.
    pub all: Option<bool>,
}

/// `Model.finetune` and `TextModel.finetune`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FinetuneOptions {
    /// "head", "lora" or "head+lora".
    pub method: Option<String>,
    #[serde(default, deserialize_with = "whole")]
    pub rank: Option<usize>,
    pub alpha: Option<f32>,
    pub targets: Option<Vec<String>>,
    pub lr: Option<f64>,
    #[serde(default, deserialize_with = "whole")]
    pub epochs: Option<usize>,
    #[serde(default, deserialize_with = "whole")]
    pub batch_size: Option<usize>,
    #[serde(default, deserialize_with = "whole")]
    pub seed: Option<u64>,
    pub warmup: Option<f64>,
    pub weight_decay: Option<f64>,
    /// 0 turns clipping off.
    pub max_grad_norm: Option<f64>,
    #[serde(default, deserialize_with = "whole")]
    pub max_tokens: Option<usize>,
    /// Examples as `finetune` takes them, read by the caller.
    #[serde(default, deserialize_with = "js")]
    pub eval_examples: Option<JsValue>,
    /// `(stepInfo) => void`.
    #[serde(default, deserialize_with = "function")]
    pub on_step: Option<Function>,
    #[serde(default, deserialize_with = "signal")]
    pub signal: Option<JsValue>,
}

impl FinetuneOptions {
    /// The run's settings; `method` unless the options name one.
    pub(super) fn get(&self, method: crate::train::run::Method) -> Result<crate::train::run::Options> {
        let d = crate::train::run::Options::default();
        Ok(crate::train::run::Options {
            method: self.method.as_deref().map(str::parse).transpose()?.unwrap_or(method),
            rank: self.rank.unwrap_or(d.rank),
            alpha: self.alpha.unwrap_or(d.alpha),
            targets: self.targets.clone(),
            lr: self.lr,
            epochs: self.epochs,
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            seed: self.seed.unwrap_or(d.seed),
            warmup: self.warmup.unwrap_or(d.warmup),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            max_grad_norm: match self.max_grad_norm {
                Some(n) if n > 0.0 => Some(n as f32),
                Some(_) => None,
                None => d.max_grad_norm,
            },
            max_tokens: self.max_tokens,
        })
    }

    /// The `signal` has fired.
    pub(super) fn aborted(&self) -> bool {
        self.signal.as_ref().is_some_and(aborted)
    }
}

/// `signal.aborted`.
pub(super) fn aborted(signal: &JsValue) -> bool {
    Reflect::get(signal, &"aborted".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false)
}

/// `TextModel.loadAdapter`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AdapterOptions {
    /// Fold the adapter into f32 weights (default true).
    pub merge: Option<bool>,
}
