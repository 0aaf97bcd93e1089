//! Fine-tuning from JS: `model.finetune(examples, options)` on a `Model`
//! (a classifier head, or head + LoRA) or a `TextModel` (LoRA), one step at
//! a time with the page given a turn between steps; `onStep` after each,
//! an `AbortSignal` stops at the next step and keeps what was trained. The
//! result is an `Adapter` (PEFT files) that the model also starts using;
//! `loadAdapter` / `unloadAdapter` switch adapters.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::generate::{yield_behind_queued_tasks, TextModel};
use super::model::{get, promise, Model};
use super::options::{self as opts, FinetuneOptions};
use super::{js_err, to_js};
use crate::error::{Error, Result};
use crate::ops::tensor::Device;
use crate::train::adapter::AdapterFile;
use crate::train::encoder::ClassifierAdapter;
use crate::train::run::{ClassifierRun, Method, StepInfo, TextItem, TextRun};

/// A trained (or loaded) adapter: PEFT's two files and what training measured.
#[wasm_bindgen]
pub struct Adapter {
    file: AdapterFile,
    report: JsValue,
}

#[wasm_bindgen]
impl Adapter {
    /// `adapter_model.safetensors` (its metadata also holds the config, so
    /// `loadAdapter` takes these bytes alone).
    #[wasm_bindgen(js_name = toSafetensors)]
    pub fn to_safetensors(&self) -> std::result::Result<Uint8Array, JsError> {
        let (_, w) = self.file.to_bytes().map_err(js_err)?;
        Ok(Uint8Array::from(w.as_slice()))
    }

    /// `adapter_config.json` as text (PEFT reads it with the safetensors file).
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> std::result::Result<String, JsError> {
        let (c, _) = self.file.to_bytes().map_err(js_err)?;
        Ok(String::from_utf8_lossy(&c).into_owned())
    }

    /// What training measured: `{steps, stopped, trainLoss, examplesPerSecond,
    /// truncated, labels, evalAccuracy, evalLoss, peakGpuBytes}` (empty for a loaded adapter).
    #[wasm_bindgen(getter)]
    pub fn report(&self) -> JsValue {
        self.report.clone()
    }
}

/// `[{text, label}]` (labels may be strings or numbers, kept as text).
fn labelled(v: &JsValue, what: &str) -> Result<Vec<(String, String)>> {
    if !Array::is_array(v) {
        return Err(Error::InvalidArgument(format!("{what}: expected an array of {{text, label}}")));
    }
    Array::from(v)
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let label = get(&e, "label");
            match (get(&e, "text").as_string(), label.as_string().or_else(|| label.as_f64().map(|n| n.to_string()))) {
                (Some(t), Some(l)) => Ok((t, l)),
                _ => Err(Error::InvalidArgument(format!("{what}[{i}]: a classifier needs {{text, label}} (mixed example kinds?)"))),
            }
        })
        .collect()
}

/// `[{prompt, completion} | {text}]`.
fn text_items(v: &JsValue, what: &str) -> Result<Vec<TextItem>> {
    if !Array::is_array(v) {
        return Err(Error::InvalidArgument(format!("{what}: expected an array of {{prompt, completion}} or {{text}}")));
    }
    Array::from(v)
        .iter()
        .enumerate()
        .map(|(i, e)| match (get(&e, "prompt").as_string(), get(&e, "completion").as_string(), get(&e, "text").as_string(), get(&e, "label").is_undefined()) {
            (Some(p), Some(c), None, true) => Ok(TextItem::Completion { prompt: p, completion: c }),
            (None, None, Some(t), true) => Ok(TextItem::Text(t)),
            _ => Err(Error::InvalidArgument(format!("{what}[{i}]: a decoder takes {{prompt, completion}} or {{text}} (a label is for classifiers)"))),
        })
        .collect()
}

/// Calls `onStep(info)`, gives the page a turn, and says whether to go on.
async fn after_step(options: &FinetuneOptions, info: &StepInfo) -> Result<bool> {
    if let Some(f) = &options.on_step {
        let _ = f.call1(&JsValue::NULL, &to_js(info).map_err(|_| Error::InvalidArgument("finetune: step report".into()))?);
    }
    yield_behind_queued_tasks().await;
    Ok(!options.aborted())
}

fn peak(device: &Device) -> u64 {
    match device {
        Device::Gpu(g) => g.peak_bytes(),
        Device::Cpu => 0,
    }
}

fn reset_peak(device: &Device) {
    if let Device::Gpu(g) = device {
        g.reset_peak();
    }
}

/// The adapter's safetensors bytes, or `{config, weights}` (PEFT's two files:
/// strings, objects or bytes).
async fn adapter_file(src: &JsValue) -> Result<AdapterFile> {
    let bytes = |v: &JsValue, what: &str| -> Result<Vec<u8>> {
        if let Some(u) = v.dyn_ref::<Uint8Array>() {
            return Ok(u.to_vec());
        }
        if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
            return Ok(Uint8Array::new(b).to_vec());
        }
        if let Some(s) = v.as_string() {
            return Ok(s.into_bytes());
        }
        if v.is_object() {
            return js_sys::JSON::stringify(v)
                .map(|s| String::from(s).into_bytes())
                .map_err(|_| Error::InvalidArgument(format!("loadAdapter: {what} is not JSON")));
        }
        Err(Error::InvalidArgument(format!("loadAdapter: {what} must be bytes")))
    };
    let weights = get(src, "weights");
    if weights.is_undefined() {
        AdapterFile::parse_safetensors(&bytes(src, "the adapter")?)
    } else {
        AdapterFile::parse(&bytes(&get(src, "config"), "config")?, &bytes(&weights, "weights")?)
    }
}

#[wasm_bindgen]
impl Model {
    /// Trains a classifier on `[{text, label}]`: `method` "head" or
    /// "head+lora" (default), `rank`, `alpha`, `targets`, `lr`, `epochs`,
    /// `batchSize`, `seed`, `warmup`, `weightDecay`, `maxGradNorm`,
    /// `maxTokens`, `evalExamples`, `onStep({step, steps, epoch, loss, lr,
    /// examplesPerSecond})`, `signal`. Resolves to an `Adapter`, which the
    /// model uses for `classify` from then on.
    pub fn finetune(&self, examples: JsValue, options: JsValue) -> js_sys::Promise {
        let (m, slot) = (self.inner.clone(), self.adapter.clone());
        promise(async move {
            let o: FinetuneOptions = opts::parse("finetune options", &options)?;
            let opt = o.get(Method::HeadLora)?;
            let data = labelled(&examples, "finetune examples")?;
            let eval = o.eval_examples.as_ref().map(|e| labelled(e, "evalExamples")).transpose()?;
            reset_peak(m.device());
            let mut run = ClassifierRun::new(&m, &data, &opt)?;
            let mut stopped = false;
            while let Some(info) = run.step().await? {
                if !after_step(&o, &info).await? {
                    stopped = true;
                    break;
                }
            }
            let (acc, loss) = match &eval {
                Some(e) => {
                    let (a, l) = run.evaluate(e).await?;
                    (JsValue::from(a), JsValue::from(l))
                }
                None => (JsValue::NULL, JsValue::NULL),
            };
            let report = serde_json::json!({
                "steps": run.train_loss().len(), "stopped": stopped, "trainLoss": run.train_loss(),
                "examplesPerSecond": run.examples_per_second(), "truncated": run.truncated, "labels": run.labels(),
                "peakGpuBytes": peak(m.device()),
            });
            let report = to_js(&report).map_err(|_| Error::InvalidArgument("finetune: report".into()))?;
            let _ = Reflect::set(&report, &"evalAccuracy".into(), &acc);
            let _ = Reflect::set(&report, &"evalLoss".into(), &loss);
            let adapter = run.adapter().clone();
            let file = adapter.to_file("").await?;
            *slot.borrow_mut() = Some(adapter);
            Ok(Adapter { file, report }.into())
        })
    }

    /// Uses an adapter for `classify`: its safetensors bytes (from
    /// `toSafetensors`) or PEFT's `{config, weights}`. A file for another
    /// model is refused, naming the tensor that does not fit.
    #[wasm_bindgen(js_name = loadAdapter)]
    pub fn load_adapter(&self, source: JsValue) -> js_sys::Promise {
        let (m, slot) = (self.inner.clone(), self.adapter.clone());
        promise(async move {
            let file = adapter_file(&source).await?;
            let adapter = ClassifierAdapter::from_file(&m, &file)?;
            let labels = to_js(&adapter.labels).map_err(|_| Error::InvalidArgument("loadAdapter: labels".into()))?;
            *slot.borrow_mut() = Some(adapter);
            Ok(labels)
        })
    }

    /// Back to the model's own head (or zero-shot).
    #[wasm_bindgen(js_name = unloadAdapter)]
    pub fn unload_adapter(&self) {
        *self.adapter.borrow_mut() = None;
    }
}

#[wasm_bindgen]
impl TextModel {
    /// LoRA on `[{prompt, completion} | {text}]` (loss on completions and
    /// texts): options as `Model.finetune` (method "lora"); default targets
    /// q_proj and v_proj. Waits for a running generation; generation uses
    /// the adapter from then on.
    pub fn finetune(&self, examples: JsValue, options: JsValue) -> js_sys::Promise {
        let (m, turns) = (self.inner.clone(), self.turns.clone());
        promise(async move {
            let o: FinetuneOptions = opts::parse("finetune options", &options)?;
            let opt = o.get(Method::Lora)?;
            let data = text_items(&examples, "finetune examples")?;
            let eval = o.eval_examples.as_ref().map(|e| text_items(e, "evalExamples")).transpose()?;
            turns.acquire().await;
            let r = async {
                m.set_adapter(None, false)?;
                reset_peak(m.device());
                let mut run = TextRun::new(&m, &data, &opt)?;
                let mut stopped = false;
                while let Some(info) = run.step().await? {
                    if !after_step(&o, &info).await? {
                        stopped = true;
                        break;
                    }
                }
                let eval_loss = match &eval {
                    Some(e) => JsValue::from(run.evaluate(e).await?),
                    None => JsValue::NULL,
                };
                let report = serde_json::json!({
                    "steps": run.train_loss().len(), "stopped": stopped, "trainLoss": run.train_loss(),
                    "examplesPerSecond": run.examples_per_second(), "truncated": run.truncated, "peakGpuBytes": peak(m.device()),
                });
                let report = to_js(&report).map_err(|_| Error::InvalidArgument("finetune: report".into()))?;
                let _ = Reflect::set(&report, &"evalLoss".into(), &eval_loss);
                let set = run.adapter().clone();
                let file = set.to_file("").await?;
                m.set_adapter(Some(&set), true)?;
                Ok::<_, Error>(Adapter { file, report })
            }
            .await;
            turns.release();
            Ok(r?.into())
        })
    }

    /// Adds a LoRA adapter to generation: its safetensors bytes or PEFT's
    /// `{config, weights}`. Options: `merge` (default true) folds it into
    /// f32 weights so a token costs what the base's does (quantized or f16
    /// weights keep it beside). Resolves to the number of layers merged.
    /// Waits for a running generation, so none changes adapter midway.
    #[wasm_bindgen(js_name = loadAdapter)]
    pub fn load_adapter(&self, source: JsValue, options: JsValue) -> js_sys::Promise {
        let (m, turns) = (self.inner.clone(), self.turns.clone());
        promise(async move {
            let o: opts::AdapterOptions = opts::parse("loadAdapter options", &options)?;
            let file = adapter_file(&source).await?;
            let set = m.read_adapter(&file)?;
            let merge = o.merge.unwrap_or(true);
            turns.acquire().await;
            let merged = m.set_adapter(Some(&set), merge);
            turns.release();
            Ok((merged? as f64).into())
        })
    }

    /// Generation without the adapter again (a running generation goes on without it from its next token).
    #[wasm_bindgen(js_name = unloadAdapter)]
    pub fn unload_adapter(&self) -> std::result::Result<(), JsError> {
        self.inner.set_adapter(None, false).map(|_| ()).map_err(js_err)
    }
}
