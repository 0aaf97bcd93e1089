//! `Model`: load an encoder folder (URLs, Responses or bytes), then embed,
//! classify, zero-shot classify and compare texts. Weights stream from the
//! network into device memory tensor by tensor.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use super::fetch::{fetch, Body, Fetcher};
use super::options as opts;
use super::{js_err, js_error, to_js};
use crate::error::{Error, Result};
use crate::models::bert::{Bert, EncodeOptions, Pooling};
use crate::models::files::{ModelFiles, WeightsLoader, OPTIONAL};
use crate::models::params::Params;
use crate::nn::Quantization;
use crate::ops::tensor::{Device, DeviceRequest};
use crate::tasks::classify::LabelScore;
use crate::tasks::embed::cosine;
use crate::weights::shards::{ShardIndex, INDEX_FILE};

pub(super) fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// What loading measured, for `info()` and `loadWeights`.
#[derive(Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoadStats {
    files: Vec<String>,
    tensors: usize,
    bytes: u64,
    /// The most bytes of a weights file held in wasm memory at once.
    peak_buffered_bytes: u64,
    /// wasm linear memory after loading (it never shrinks: the high-water mark).
    wasm_memory_bytes: u64,
    gpu_bytes: u64,
    pub(super) millis: f64,
}

pub(super) struct Progress {
    callback: Option<Function>,
}

impl Progress {
    fn report(&self, file: &str, loaded: u64, total: Option<u64>) {
        if let Some(f) = &self.callback {
            let o = js_sys::Object::new();
            let _ = Reflect::set(&o, &"file".into(), &file.into());
            let _ = Reflect::set(&o, &"loaded".into(), &(loaded as f64).into());
            let _ = Reflect::set(&o, &"total".into(), &total.map_or(JsValue::UNDEFINED, |t| (t as f64).into()));
            let _ = f.call1(&JsValue::NULL, &o);
        }
    }
}

/// A folder URL (`"/models/minilm/"`) or `{config, tokenizer, weights, ...}`.
pub(super) enum Source {
    Folder(String, Fetcher),
    Files(JsValue, Fetcher),
}

impl Source {
    /// `via` fetches every URL (the global `fetch` or `options.fetch`).
    pub(super) fn of(v: &JsValue, via: Fetcher) -> Result<Source> {
        if let Some(s) = v.as_string() {
            let base = if s.ends_with('/') { s } else { format!("{s}/") };
            return Ok(Source::Folder(base, via));
        }
        if v.is_object() && !get(v, "config").is_undefined() {
            opts::parse::<opts::SourceFiles>("model source", v)?;
            return Ok(Source::Files(v.clone(), via));
        }
        Err(Error::InvalidArgument("Model.load: expected a folder URL or { config, tokenizer, weights }".into()))
    }

    /// A small file by its name in the folder; `None` when absent (404 or not given).
    async fn small(&self, name: &str, required: bool) -> Result<Option<Vec<u8>>> {
        let got = match self {
            Source::Folder(base, via) => match fetch(&format!("{base}{name}"), via).await? {
                Some(resp) => Some(Body::of_response(name, &resp)?.read_all(name).await?),
                None => None,
            },
            Source::Files(o, via) => {
                let key = match name {
                    "config.json" => "config",
                    "tokenizer.json" => "tokenizer",
                    "1_Pooling/config.json" => "pooling",
                    "sentence_bert_config.json" => "sentenceConfig",
                    "modules.json" => "modules",
                    "tokenizer_config.json" => "tokenizerConfig",
                    other => other,
                };
                let v = get(o, key);
                if v.is_undefined() || v.is_null() {
                    None
                } else {
                    // A plain object (already-parsed JSON) is accepted for the JSON files.
                    if v.is_object()
                        && !v.is_instance_of::<js_sys::Uint8Array>()
                        && !v.is_instance_of::<js_sys::ArrayBuffer>()
                        && get(&v, "body").is_undefined()
                        && name.ends_with(".json")
                    {
                        let s = js_sys::JSON::stringify(&v).map_err(|_| Error::InvalidArgument(format!("{name}: not JSON-serialisable")))?;
                        Some(String::from(s).into_bytes())
                    } else {
                        Some(Body::open(name, &v, via).await?.read_all(name).await?)
                    }
                }
            }
        };
        match got {
            None if required => match self {
                Source::Folder(base, _) => Err(Error::Io { file: format!("{base}{name}"), message: format!("HTTP 404 not found: the model has no {name}") }),
                Source::Files(..) => Err(Error::Io { file: name.into(), message: format!("the model has no {name}") }),
            },
            other => Ok(other),
        }
    }

    fn fetcher(&self) -> &Fetcher {
        match self {
            Source::Folder(_, via) | Source::Files(_, via) => via,
        }
    }

    pub(super) async fn files(&self) -> Result<ModelFiles> {
        let mut files = ModelFiles {
            config: self.small("config.json", true).await?.unwrap_or_default(),
            tokenizer: self.small("tokenizer.json", true).await?.unwrap_or_default(),
            ..Default::default()
        };
        for name in OPTIONAL {
            if let Some(b) = self.small(name, false).await? {
                files.extra.insert(name.to_string(), b);
            }
        }
        Ok(files)
    }

    /// The weight files as (name, body), opened lazily one by one.
    async fn weight_sources(&self) -> Result<Vec<(String, JsValue)>> {
        match self {
            Source::Folder(base, via) => {
                if let Some(resp) = fetch(&format!("{base}model.safetensors"), via).await? {
                    return Ok(vec![("model.safetensors".into(), resp)]);
                }
                let index = fetch(&format!("{base}{INDEX_FILE}"), via)
                    .await?
                    .ok_or_else(|| Error::Io { file: format!("{base}model.safetensors"), message: format!("HTTP 404, and no {INDEX_FILE} either") })?;
                let bytes = Body::of_response(INDEX_FILE, &index)?.read_all(INDEX_FILE).await?;
                let idx = ShardIndex::parse(INDEX_FILE, &bytes)?;
                Ok(idx.shards().into_iter().map(|s| (s.to_string(), JsValue::from(format!("{base}{s}")))).collect())
            }
            Source::Files(o, _) => {
                let w = get(o, "weights");
                if w.is_undefined() || w.is_null() {
                    return Err(Error::Io { file: "model.safetensors".into(), message: "no weights given".into() });
                }
                let list: Vec<JsValue> = if Array::is_array(&w) { Array::from(&w).iter().collect() } else { vec![w] };
                Ok(list
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_string().map(|s| s.rsplit('/').next().unwrap_or(&s).to_string()).unwrap_or_else(|| format!("weights[{i}]")), v))
                    .collect())
            }
        }
    }
}

/// Streams every weights file into `params`.
pub(super) async fn load_weights(source: &Source, params: &mut Params, progress: &Progress) -> Result<LoadStats> {
    let mut stats = LoadStats::default();
    for (name, src) in source.weight_sources().await? {
        let mut body = Body::open(&name, &src, source.fetcher()).await?;
        let total = body.total();
        let mut loader = WeightsLoader::new(&name, params);
        progress.report(&name, 0, total);
        while let Some(chunk) = body.next(&name).await? {
            loader.push(&chunk)?;
            progress.report(&name, loader.received(), total);
        }
        let (_, peak) = loader.finish()?;
        stats.peak_buffered_bytes = stats.peak_buffered_bytes.max(peak as u64);
        stats.files.push(name);
    }
    stats.tensors = params.len();
    stats.bytes = params.bytes_loaded();
    stats.wasm_memory_bytes = crate::platform::linear_memory_bytes();
    if let Device::Gpu(g) = params.device() {
        stats.gpu_bytes = g.live_bytes();
    }
    Ok(stats)
}

pub(super) struct Options {
    pub(super) device: DeviceRequest,
    pub(super) quantize: Option<Quantization>,
    pub(super) progress: Progress,
    pub(super) fetcher: Fetcher,
}

pub(super) fn options(v: &JsValue) -> Result<Options> {
    let o: opts::LoadOptions = opts::parse("load options", v)?;
    let device = match &o.device {
        Some(d) => d.parse()?,
        None => DeviceRequest::Auto,
    };
    let quantize = match o.bits {
        Some(bits) => {
            let q = Quantization { bits, group: o.group.unwrap_or(64) };
            crate::quant::affine::check_params(1, q.group, q.bits, q.group)?;
            Some(q)
        }
        None => None,
    };
    Ok(Options { device, quantize, progress: Progress { callback: o.on_progress }, fetcher: Fetcher(o.fetch) })
}

/// Loads a model of any family: the folder's small files (`check`ed before
/// any weight is fetched), the device, every weight streamed into `Params`,
/// then `build`. On failure the device is destroyed, so nothing stays
/// allocated on the GPU.
pub(super) async fn load_model<T>(
    source: JsValue,
    options_: JsValue,
    check: impl FnOnce(&ModelFiles) -> Result<()>,
    build: impl FnOnce(&ModelFiles, &Params) -> Result<T>,
) -> Result<(T, LoadStats)> {
    let t0 = now();
    let opt = options(&options_)?;
    let source = Source::of(&source, opt.fetcher.clone())?;
    let files = source.files().await?;
    check(&files)?;
    let device = Device::new(opt.device).await?;
    let mut params = Params::new(&device);
    if let Some(q) = opt.quantize {
        params.quantize_on_load(q);
    }
    let result = async {
        let mut stats = load_weights(&source, &mut params, &opt.progress).await?;
        let model = build(&files, &params)?;
        stats.millis = now() - t0;
        Ok::<_, Error>((model, stats))
    }
    .await;
    drop(params);
    if result.is_err() {
        if let Device::Gpu(g) = &device {
            g.destroy();
        }
    }
    result
}

pub(super) fn now() -> f64 {
    js_sys::Date::now()
}

/// An encoder model (BERT, MiniLM, DistilBERT) on one device.
#[wasm_bindgen]
pub struct Model {
    pub(super) inner: Rc<Bert>,
    /// A classifier adapter `classify` uses instead of the model's own head.
    pub(super) adapter: Rc<std::cell::RefCell<Option<crate::train::encoder::ClassifierAdapter>>>,
    stats: LoadStats,
}

fn labels_js(ls: &[LabelScore]) -> JsValue {
    ls.iter()
        .map(|l| {
            let o = js_sys::Object::new();
            let _ = Reflect::set(&o, &"label".into(), &l.label.as_str().into());
            let _ = Reflect::set(&o, &"score".into(), &(l.score as f64).into());
            JsValue::from(o)
        })
        .collect::<Array>()
        .into()
}

fn strings(v: &JsValue, what: &str) -> Result<(Vec<String>, bool)> {
    if let Some(s) = v.as_string() {
        return Ok((vec![s], true));
    }
    if Array::is_array(v) {
        let list = Array::from(v)
            .iter()
            .map(|x| x.as_string().ok_or_else(|| Error::InvalidArgument(format!("{what}: every item must be a string"))))
            .collect::<Result<Vec<_>>>()?;
        return Ok((list, false));
    }
    Err(Error::InvalidArgument(format!("{what}: expected a string or an array of strings")))
}

pub(super) fn promise<F>(f: F) -> js_sys::Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    future_to_promise(async move { f.await.map_err(js_error) })
}

#[wasm_bindgen]
impl Model {
    /// Loads an encoder: `source` is a folder URL or `{config, tokenizer,
    /// weights, pooling?, sentenceConfig?, modules?}` (URLs, Responses,
    /// ArrayBuffers, Uint8Arrays; `weights` may be a list of shards).
    /// Options: `device` ("auto" | "webgpu" | "cpu"), `bits`/`group` (quantize
    /// float weights on load), `onProgress({file, loaded, total})`, `fetch`
    /// (a `(url) => Promise<Response>` used instead of the global `fetch`).
    pub async fn load(source: JsValue, options_: JsValue) -> std::result::Result<Model, JsError> {
        // Check config and tokenizer before any weight byte is fetched.
        let check = |files: &ModelFiles| crate::models::bert::BertConfig::parse(&files.config_json()?).map(|_| ());
        let (bert, stats) = load_model(source, options_, check, Bert::new).await.map_err(js_err)?;
        Ok(Model { inner: Rc::new(bert), adapter: Rc::default(), stats })
    }

    /// Sentence embeddings: a `Float32Array` for a string, an array of them
    /// for an array. Options: `normalize`, `pooling` ("mean" | "cls"),
    /// `truncate` (default true), `maxTokens`.
    pub fn embed(&self, texts: JsValue, options: JsValue) -> js_sys::Promise {
        let m = self.inner.clone();
        promise(async move {
            let o: opts::EmbedOptions = opts::parse("embed options", &options)?;
            let (texts, single) = strings(&texts, "embed")?;
            let pooling = o.pooling.as_deref().map(str::parse::<Pooling>).transpose()?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let out = Array::new();
            for e in m.embed(&refs, pooling, o.normalize, o.encode()).await? {
                out.push(&Float32Array::from(e.embedding.as_slice()));
            }
            Ok(if single { out.get(0) } else { out.into() })
        })
    }

    /// Labels with softmax scores, best first: `[{label, score}]` for a
    /// string, an array of those for an array. Options: `topK`. With an
    /// adapter loaded (`finetune`, `loadAdapter`), its head answers.
    pub fn classify(&self, texts: JsValue, options: JsValue) -> js_sys::Promise {
        let (m, adapter) = (self.inner.clone(), self.adapter.borrow().clone());
        promise(async move {
            let o: opts::ClassifyOptions = opts::parse("classify options", &options)?;
            let (texts, single) = strings(&texts, "classify")?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let out = Array::new();
            let results = match &adapter {
                Some(a) => a.classify(&m, &refs, o.top_k, o.encode()).await?,
                None => m.classify(&refs, o.top_k, o.encode()).await?,
            };
            for r in results {
                out.push(&labels_js(&r));
            }
            Ok(if single { out.get(0) } else { out.into() })
        })
    }

    /// Zero-shot classification by embedding similarity between `text` and
    /// each label put into `template` (default "This text is about {}.").
    #[wasm_bindgen(js_name = zeroShot)]
    pub fn zero_shot(&self, text: String, labels: Vec<String>, options: JsValue) -> js_sys::Promise {
        let m = self.inner.clone();
        promise(async move {
            let o: opts::ZeroShotOptions = opts::parse("zeroShot options", &options)?;
            let template = o.template.as_deref().unwrap_or("This text is about {}.");
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            let r = m.zero_shot(&text, &refs, template, o.encode()).await?;
            Ok(labels_js(&r))
        })
    }

    /// Cosine similarity of two texts' embeddings.
    pub fn similarity(&self, a: String, b: String) -> js_sys::Promise {
        let m = self.inner.clone();
        promise(async move {
            let e = m.embed(&[a.as_str(), b.as_str()], None, None, EncodeOptions::default()).await?;
            Ok((cosine(&e[0].embedding, &e[1].embedding) as f64).into())
        })
    }

    /// Token ids the model would see: `{ids, truncated}`.
    pub fn tokenize(&self, text: String, options: JsValue) -> std::result::Result<JsValue, JsError> {
        let o: opts::EncodeOptions = opts::parse("tokenize options", &options).map_err(js_err)?;
        let e = self.inner.encode(&text, o.get()).map_err(js_err)?;
        to_js(&serde_json::json!({ "ids": e.ids, "truncated": e.truncated }))
    }

    /// The architecture, device, sizes, head, and what loading measured.
    pub fn info(&self) -> std::result::Result<JsValue, JsError> {
        let m = &self.inner;
        let c = &m.config;
        to_js(&serde_json::json!({
            "arch": format!("{:?}", c.arch),
            "device": m.device().describe(),
            "deviceKind": m.device().kind(),
            "hidden": c.hidden,
            "layers": c.layers,
            "heads": c.heads,
            "vocab": c.vocab,
            "maxTokens": m.max_tokens,
            "pooling": format!("{:?}", m.pooling).to_lowercase(),
            "normalize": m.normalize,
            "labels": c.labels,
            "classifier": m.has_classifier(),
            "adapter": self.adapter.borrow().as_ref().map(|a| serde_json::json!({"labels": a.labels, "lora": a.lora.is_some()})),
            "quantization": c.quant.map(|q| serde_json::json!({"bits": q.bits, "group": q.group})),
            "gpuBytes": super::gpu_bytes(m.device()),
            "load": self.stats,
        }))
    }

    /// Frees the model's GPU memory now; later calls fail.
    pub fn dispose(&self) {
        if let Device::Gpu(g) = self.inner.device() {
            g.destroy();
        }
    }

    /// `callback(reason)` when the GPU device is lost (never on the CPU path,
    /// never for `dispose`). The package's `Model` reloads itself then.
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

/// Streams the weights of a folder (or `{weights}`) onto a device and frees
/// them again, reporting tensors, bytes, the most weight bytes held in wasm
/// memory at once, wasm memory after loading, GPU bytes and time. For any
/// model family, including ones `Model` cannot run yet (a diagnostic, and
/// the measure of streaming).
#[wasm_bindgen(js_name = loadWeights)]
pub async fn load_weights_js(source: JsValue, options_: JsValue) -> std::result::Result<JsValue, JsError> {
    let t0 = now();
    let opt = options(&options_).map_err(js_err)?;
    let source = Source::of(&source, opt.fetcher.clone()).map_err(js_err)?;
    let device = Device::new(opt.device).await.map_err(js_err)?;
    let mut params = Params::new(&device);
    let r = load_weights(&source, &mut params, &opt.progress).await;
    let sync = device.sync().await;
    drop(params);
    if let Device::Gpu(g) = &device {
        g.destroy();
    }
    let mut stats = r.map_err(js_err)?;
    sync.map_err(js_err)?;
    stats.millis = now() - t0;
    to_js(&stats)
}
