//! `TextModel`: load a decoder folder (Llama-family, GPT-2), then stream
//! generated text as an async iterator, cancellable with an `AbortSignal`.
//! One generation runs at a time per model; a second waits its turn.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::model::{load_model, now, promise, LoadStats};
use super::options::{self as opts, aborted};
use super::{js_err, to_js};
use crate::error::{Error, Result};
use crate::models::decoder::Decoder;
use crate::ops::tensor::Device;
use crate::tasks::chat::ChatMessage;
use crate::tasks::constrain::Constraint;
use crate::tasks::generate::{GenerateOptions, Generation};

/// Turns for the model: one generation at a time, the others queued in order.
#[derive(Default)]
pub(super) struct Turns {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<futures_channel::oneshot::Sender<()>>>,
}

impl Turns {
    pub(super) async fn acquire(self: &Rc<Self>) {
        if !self.busy.replace(true) {
            return;
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        self.waiting.borrow_mut().push_back(tx);
        // The releaser hands the turn over without clearing `busy`.
        let _ = rx.await;
    }

    pub(super) fn release(&self) {
        while let Some(tx) = self.waiting.borrow_mut().pop_front() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        self.busy.set(false);
    }
}

/// A decoder on one device.
#[wasm_bindgen]
pub struct TextModel {
    pub(super) inner: Rc<Decoder>,
    pub(super) turns: Rc<Turns>,
    stats: LoadStats,
    /// The generations not yet collected by the JS GC: `dispose` and `free`
    /// end them, so none keeps its KV cache (or the model) alive after.
    runs: RefCell<Vec<Weak<RefCell<Run>>>>,
}

impl TextModel {
    /// Ends every generation of this model that has not ended (one whose
    /// token is running ends when the token returns).
    fn end_runs(&self) {
        for run in self.runs.borrow_mut().drain(..).filter_map(|w| w.upgrade()) {
            if let Ok(mut r) = run.try_borrow_mut() {
                r.cancel();
            }
        }
    }
}

impl Drop for TextModel {
    fn drop(&mut self) {
        self.end_runs();
    }
}

/// The prompt's token ids: a string as is, `[{role, content}]` through
/// the chat template, or token ids (a `Uint32Array` or an array of numbers).
fn prompt_ids(m: &Decoder, prompt: &JsValue) -> Result<Vec<u32>> {
    if let Some(ids) = prompt.dyn_ref::<js_sys::Uint32Array>() {
        return check_ids(m, ids.to_vec());
    }
    if Array::is_array(prompt) && Array::from(prompt).length() > 0 && Array::from(prompt).every(&mut |v, _, _| v.as_f64().is_some()) {
        let ids = Array::from(prompt)
            .iter()
            .map(|v| v.as_f64().unwrap_or(-1.0))
            .map(|x| {
                if x >= 0.0 && x.fract() == 0.0 && x < u32::MAX as f64 {
                    Ok(x as u32)
                } else {
                    Err(Error::InvalidArgument(format!("prompt: token id {x} is not a whole number ≥ 0")))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        return check_ids(m, ids);
    }
    let text = if let Some(s) = prompt.as_string() {
        s
    } else if Array::is_array(prompt) {
        let messages: Vec<ChatMessage> = serde_wasm_bindgen::from_value(prompt.clone())
            .map_err(|e| Error::InvalidArgument(format!("generate: messages must be [{{role, content}}] with string fields ({e})")))?;
        m.apply_chat_template(&messages)?
    } else {
        return Err(Error::InvalidArgument("generate: the prompt must be a string, an array of {role, content} messages, or token ids".into()));
    };
    m.encode(&text)
}

fn check_ids(m: &Decoder, ids: Vec<u32>) -> Result<Vec<u32>> {
    match ids.iter().find(|&&i| i as usize >= m.info.vocab) {
        Some(bad) => Err(Error::InvalidArgument(format!("prompt: token id {bad} is outside the vocabulary of {}", m.info.vocab))),
        None => Ok(ids),
    }
}

/// Lets the page handle input, paint and run its other tasks between tokens:
/// on the CPU path a token is pure computation, and promise continuations
/// alone would run the whole generation without returning to the event loop
/// (a frozen page, a Stop button that cannot be clicked). A `MessageChannel`
/// message is an ordinary task (no 4 ms timer clamp, and unlike
/// `scheduler.yield()` it does not jump ahead of the page's other tasks);
/// `setTimeout(0)` where there is none.
pub(super) async fn yield_to_page() {
    yield_with(true).await
}

/// `yield_to_page` through `setTimeout(0)`: it waits behind every task
/// already queued, timers and input included. For training steps (hundreds
/// of milliseconds each), where the page's own timers and a multi-event
/// click should all get through between two steps.
pub(super) async fn yield_behind_queued_tasks() {
    yield_with(false).await
}

async fn yield_with(message_channel: bool) {
    let global = js_sys::global();
    let get = |o: &JsValue, k: &str| Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let channel = if message_channel {
        get(&global, "MessageChannel").dyn_into::<Function>().ok().and_then(|c| Reflect::construct(&c, &Array::new()).ok())
    } else {
        None
    };
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(ch) = &channel {
            let (port1, port2) = (get(ch, "port1"), get(ch, "port2"));
            let _ = Reflect::set(&port1, &"onmessage".into(), &resolve);
            if let Ok(post) = get(&port2, "postMessage").dyn_into::<Function>() {
                if post.call1(&port2, &JsValue::NULL).is_ok() {
                    return;
                }
            }
        }
        match get(&global, "setTimeout").dyn_into::<Function>() {
            Ok(set_timeout) => {
                let _ = set_timeout.call2(&JsValue::NULL, &resolve, &0.into());
            }
            Err(_) => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    if let Some(ch) = &channel {
        if let Ok(close) = get(&get(ch, "port1"), "close").dyn_into::<Function>() {
            let _ = close.call0(&get(ch, "port1"));
        }
    }
}

/// One generation, driven by the iterator's `next()`.
struct Run {
    /// Weak: a stream the page still holds must not keep a freed model's
    /// weights in memory until the JS GC collects the stream. The running
    /// `Generation` holds it strongly, until the run ends.
    model: Weak<Decoder>,
    turns: Rc<Turns>,
    prompt: Vec<u32>,
    opt: GenerateOptions,
    /// `opt.grammar`, compiled when `generate` was called (its errors throw there).
    constraint: Option<Constraint>,
    signal: Option<JsValue>,
    state: State,
    /// `return()` was called (e.g. `break` in `for await`) while a token ran.
    cancel: bool,
    /// The generated ids, kept when the generation ends.
    ids: Vec<u32>,
    /// `onToken(id)`, called as soon as each new id is known.
    on_token: Option<Function>,
    started: f64,
    first_token_ms: f64,
    first_at: f64,
    /// Milliseconds spent computing grammar masks (constrained decoding).
    mask_ms: f64,
}

enum State {
    Queued,
    /// `None` while a token is being computed.
    Running(Option<Box<Generation>>),
    Done {
        generated: usize,
        finish: &'static str,
        cache_bytes: u64,
    },
}

impl Run {
    fn aborted(&self) -> bool {
        self.cancel || self.signal.as_ref().is_some_and(aborted)
    }

    /// Ends the run: drops the generation (freeing its KV cache) and hands
    /// the model to the next one in line.
    fn end(&mut self, finish: &'static str, generated: usize, cache_bytes: u64) {
        if let State::Running(Some(g)) = &self.state {
            self.ids = g.ids.clone();
        }
        let held = !matches!(self.state, State::Queued | State::Done { .. });
        self.state = State::Done { generated, finish, cache_bytes };
        if held {
            self.turns.release();
        }
    }

    /// Cancels: now if no token is running, else when it returns.
    fn cancel(&mut self) {
        match &self.state {
            State::Running(Some(g)) => {
                let (n, b) = (g.ids.len(), g.cache_bytes());
                self.end("cancelled", n, b);
            }
            State::Queued => self.end("cancelled", 0, 0),
            State::Running(None) => self.cancel = true,
            State::Done { .. } => {}
        }
    }

    /// The next non-empty text piece, or `None` at the end.
    async fn next(run: &Rc<RefCell<Run>>) -> Result<Option<String>> {
        loop {
            if matches!(run.borrow().state, State::Done { .. }) {
                return Ok(None);
            }
            if run.borrow().aborted() {
                run.borrow_mut().cancel();
                return Ok(None);
            }
            if matches!(run.borrow().state, State::Queued) {
                let turns = run.borrow().turns.clone();
                turns.acquire().await;
                let mut r = run.borrow_mut();
                r.state = State::Running(None);
                if r.aborted() {
                    r.end("cancelled", 0, 0);
                    return Ok(None);
                }
                r.started = now();
                let Some(model) = r.model.upgrade() else {
                    r.end("cancelled", 0, 0);
                    return Err(Error::InvalidArgument("generate: the model was disposed".into()));
                };
                let constraint = r.constraint.take();
                match Generation::with_constraint(model, r.prompt.clone(), r.opt.clone(), constraint) {
                    Ok(g) => r.state = State::Running(Some(Box::new(g))),
                    Err(e) => {
                        r.end("error", 0, 0);
                        return Err(e);
                    }
                }
                continue;
            }
            yield_to_page().await;
            if run.borrow().aborted() {
                run.borrow_mut().cancel();
                return Ok(None);
            }
            // Step outside the borrow: `return()` and `stats()` may come in meanwhile.
            let mut g = match &mut run.borrow_mut().state {
                State::Running(g) => {
                    g.take().ok_or_else(|| Error::InvalidArgument("generate: next() called while a token is running; await each next()".into()))?
                }
                _ => unreachable!("checked above"),
            };
            let step = g.next().await;
            let mut r = run.borrow_mut();
            let (n, bytes, finish) = (g.ids.len(), g.cache_bytes(), g.finish);
            r.mask_ms = g.mask_millis;
            r.state = State::Running(Some(g));
            match step {
                Err(e) => {
                    r.end("error", n, bytes);
                    return Err(e);
                }
                Ok(None) => {
                    r.end(finish.map_or("length", |f| f.name()), n, bytes);
                    return Ok(None);
                }
                Ok(Some(piece)) => {
                    if let Some(f) = &r.on_token {
                        let _ = f.call1(&JsValue::NULL, &piece.id.into());
                    }
                    if n == 1 {
                        r.first_at = now();
                        r.first_token_ms = r.first_at - r.started;
                    }
                    if let Some(f) = finish {
                        r.end(f.name(), n, bytes);
                    } else if r.cancel {
                        r.end("cancelled", n, bytes);
                    }
                    if !piece.text.is_empty() {
                        return Ok(Some(piece.text));
                    }
                }
            }
        }
    }

    fn stats(&self) -> serde_json::Value {
        let (generated, finish, cache) = match &self.state {
            State::Queued | State::Running(None) => (0, None, 0),
            State::Running(Some(g)) => (g.ids.len(), None, g.cache_bytes()),
            State::Done { generated, finish, cache_bytes } => (*generated, Some(*finish), *cache_bytes),
        };
        let ids = if let State::Running(Some(g)) = &self.state { g.ids.clone() } else { self.ids.clone() };
        let decode_s = (now() - self.first_at) / 1e3;
        serde_json::json!({
            "promptTokens": self.prompt.len(),
            "newTokens": generated,
            "ids": ids,
            "finish": finish,
            "msFirstToken": self.first_token_ms,
            "tokensPerSecond": if generated > 1 && decode_s > 0.0 { (generated - 1) as f64 / decode_s } else { 0.0 },
            "kvCacheBytes": cache,
            "maskMs": self.mask_ms,
        })
    }
}

/// What `TextModel.generate` returns: an async iterator of text pieces.
#[wasm_bindgen]
pub struct TextStream {
    run: Rc<RefCell<Run>>,
}

#[wasm_bindgen]
impl TextStream {
    /// The next text piece: `{value, done}`, as the async iterator protocol wants.
    pub fn next(&self) -> js_sys::Promise {
        let r = self.run.clone();
        promise(async move {
            Ok(match Run::next(&r).await? {
                Some(text) => iter_result(text.into(), false),
                None => iter_result(JsValue::UNDEFINED, true),
            })
        })
    }

    /// Cancels (a `break` out of `for await` calls it).
    #[wasm_bindgen(js_name = "return")]
    pub fn cancel(&self) -> js_sys::Promise {
        self.run.borrow_mut().cancel();
        js_sys::Promise::resolve(&iter_result(JsValue::UNDEFINED, true))
    }

    /// Prompt and new tokens, the new ids, the finish reason, time to first
    /// token, tokens per second and the KV cache's bytes.
    pub fn stats(&self) -> std::result::Result<JsValue, JsError> {
        to_js(&self.run.borrow().stats())
    }
}

// Not `Function::new_no_args("return this")`: that is `eval`, which a strict
// Content-Security-Policy (no 'unsafe-eval') refuses.
#[wasm_bindgen(inline_js = "export function webfm_async_iterable(it) { it[Symbol.asyncIterator] = function () { return this; }; }")]
extern "C" {
    #[wasm_bindgen(js_name = webfm_async_iterable)]
    fn async_iterable(it: &JsValue);
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"value".into(), &value);
    let _ = Reflect::set(&o, &"done".into(), &done.into());
    o.into()
}

#[wasm_bindgen]
impl TextModel {
    /// Loads a decoder: a folder URL or `{config, tokenizer, weights,
    /// tokenizerConfig?}`. Options as `Model.load`: `device`, `bits`/`group`,
    /// `onProgress({file, loaded, total})`.
    pub async fn load(source: JsValue, options_: JsValue) -> std::result::Result<TextModel, JsError> {
        let (m, stats) = load_model(source, options_, |_| Ok(()), Decoder::new).await.map_err(js_err)?;
        Ok(TextModel { inner: Rc::new(m), turns: Rc::default(), stats, runs: RefCell::default() })
    }

    /// Streams generated text: `for await (const piece of model.generate(prompt, options))`.
    /// `prompt` is a string or `[{role, content}]` (put through the chat
    /// template). Options: `maxNewTokens` (128), `temperature` (0: greedy),
    /// `topK`, `topP`, `repetitionPenalty`, `seed`, `stop` (string or list),
    /// `signal` (an `AbortSignal`: the iteration ends within one token and
    /// the model stays usable), `onToken(id)` (each new id as soon as it is
    /// known), `ignoreEos`, and at most one of `jsonSchema` (a schema, or
    /// `true` for any JSON object), `regex` and `grammar` (Lark): constrained
    /// decoding. The iterator's `stats()` gives prompt and new
    /// tokens, the finish reason, time to first token and tokens per second.
    /// Bad options and prompts throw here, before anything runs.
    pub fn generate(&self, prompt: JsValue, options: JsValue) -> std::result::Result<JsValue, JsError> {
        let o: opts::GenerateOptions = opts::parse("generate options", &options).map_err(js_err)?;
        let opt = o.get().map_err(js_err)?;
        let ids = prompt_ids(&self.inner, &prompt).map_err(js_err)?;
        // Bad requests throw here, before anything is queued: a grammar that
        // does not compile too.
        self.inner.check_request(ids.len(), &opt).map_err(js_err)?;
        let constraint = opt.grammar.as_ref().map(|g| Constraint::new(&self.inner, g)).transpose().map_err(js_err)?;
        let run = Rc::new(RefCell::new(Run {
            model: Rc::downgrade(&self.inner),
            turns: self.turns.clone(),
            prompt: ids,
            opt,
            constraint,
            signal: o.signal,
            state: State::Queued,
            cancel: false,
            ids: Vec::new(),
            on_token: o.on_token,
            started: now(),
            first_token_ms: 0.0,
            first_at: now(),
            mask_ms: 0.0,
        }));
        let mut runs = self.runs.borrow_mut();
        runs.retain(|w| w.strong_count() > 0);
        runs.push(Rc::downgrade(&run));
        drop(runs);
        // A wasm-bindgen object (freed by the JS GC with its Run and model
        // reference), made async-iterable by `[Symbol.asyncIterator]() { return this }`.
        let it = JsValue::from(TextStream { run });
        async_iterable(&it);
        Ok(it)
    }

    /// The logits after `prompt` (a string or messages): a `Float32Array` of
    /// the vocabulary at the last position (every position with `{all: true}`,
    /// row after row). Waits for a running generation to finish.
    pub fn logits(&self, prompt: JsValue, options: JsValue) -> js_sys::Promise {
        let (m, turns) = (self.inner.clone(), self.turns.clone());
        promise(async move {
            let o: opts::LogitsOptions = opts::parse("logits options", &options)?;
            let ids = prompt_ids(&m, &prompt)?;
            if ids.is_empty() {
                return Err(Error::InvalidArgument("logits: the prompt is empty (no tokens)".into()));
            }
            turns.acquire().await;
            let r = async {
                let mut cache = m.new_cache(ids.len())?;
                let l = m.forward(&ids, &mut cache, o.all.unwrap_or(false))?;
                l.to_vec_f32().await
            }
            .await;
            turns.release();
            Ok(js_sys::Float32Array::from(r?.as_slice()).into())
        })
    }

    /// The chat template applied to `[{role, content}]` (the prompt `generate`
    /// would see), with `options.tools` (OpenAI-style function definitions)
    /// for templates that take them.
    #[wasm_bindgen(js_name = applyChatTemplate)]
    pub fn apply_chat_template(&self, messages: JsValue, options: JsValue) -> std::result::Result<String, JsError> {
        let json = |v: &JsValue, what: &str| -> Result<serde_json::Value> {
            let text = js_sys::JSON::stringify(v).map_err(|_| Error::InvalidArgument(format!("applyChatTemplate: {what} is not JSON-serialisable")))?;
            serde_json::from_str(&String::from(text)).map_err(|e| Error::InvalidArgument(format!("applyChatTemplate: {what}: {e}")))
        };
        let o: opts::ChatTemplateOptions = opts::parse("applyChatTemplate options", &options).map_err(js_err)?;
        let messages = json(&messages, "messages").map_err(js_err)?;
        let tools = o.tools.as_ref().map(|t| json(t, "tools")).transpose().map_err(js_err)?;
        self.inner.apply_chat_template_json(&messages, tools.as_ref()).map_err(js_err)
    }

    /// Token ids of a text.
    pub fn tokenize(&self, text: String) -> std::result::Result<Vec<u32>, JsError> {
        self.inner.encode(&text).map_err(js_err)
    }

    /// The architecture, device, sizes and what loading measured.
    pub fn info(&self) -> std::result::Result<JsValue, JsError> {
        let i = &self.inner.info;
        to_js(&serde_json::json!({
            "modelType": i.model_type,
            "device": self.inner.device().describe(),
            "deviceKind": self.inner.device().kind(),
            "vocab": i.vocab,
            "maxPositions": i.max_positions,
            "eosTokenIds": i.eos,
            "chatTemplate": i.chat_template.is_some(),
            "gpuBytes": super::gpu_bytes(self.inner.device()),
            "load": self.stats,
        }))
    }

    /// Ends its generations and frees the model's GPU memory now; later calls fail.
    pub fn dispose(&self) {
        self.end_runs();
        if let Device::Gpu(g) = self.inner.device() {
            g.destroy();
        }
    }

    /// `callback(reason)` when the GPU device is lost (never on the CPU path,
    /// never for `dispose`). The package's `TextModel` reloads itself then.
    #[wasm_bindgen(js_name = onDeviceLost)]
    pub fn on_device_lost(&self, callback: Function) {
        super::on_device_lost(self.inner.device(), callback);
    }

    /// Test hook: destroys the GPU device as a driver reset would.
    #[wasm_bindgen(js_name = _loseDevice)]
    pub fn lose_device(&self) {
        super::lose_device(self.inner.device());
    }
}
