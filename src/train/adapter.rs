//! Adapters as files, in PEFT's layout so they move both ways:
//! `adapter_model.safetensors` (f32 tensors named
//! `base_model.model.<path>.lora_A.weight` / `.lora_B.weight`, and a head as
//! `base_model.model.classifier.weight` / `.bias`) and `adapter_config.json`
//! (`peft_type` "LORA", `r`, `lora_alpha`, `target_modules`,
//! `modules_to_save`). What PEFT has no field for (the head's labels and
//! pooling) goes into the safetensors metadata as `webfm.labels` (a JSON
//! list) and `webfm.pooling`, which PEFT ignores; the metadata also carries
//! the config as `webfm.adapter_config`, so the safetensors file alone is
//! enough to load an adapter written here.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::models::bert::{Bert, Pooling};
use crate::models::decoder::Decoder;
use crate::ops::tensor::{Device, Tensor};
use crate::train::encoder::{ClassifierAdapter, HEAD};
use crate::train::lora::{LoraConfig, LoraSet, LoraWeights, PEFT_PREFIX};
use crate::weights::safetensors::{Dtype, SafeTensors};
use crate::weights::safetensors_write::{serialize, Entry};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// An adapter's two files, parsed.
#[derive(Clone, Debug, Default)]
pub struct AdapterFile {
    pub config: serde_json::Map<String, serde_json::Value>,
    /// By PEFT name: shape and values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: BTreeMap<String, String>,
}

fn bad(file: &str, what: impl Into<String>) -> Error {
    Error::InvalidArgument(format!("{file}: {}", what.into()))
}

impl AdapterFile {
    /// Reads `adapter_config.json` and `adapter_model.safetensors`.
    pub fn parse(config: &[u8], weights: &[u8]) -> Result<AdapterFile> {
        let config = match serde_json::from_slice::<serde_json::Value>(config) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(bad(CONFIG_FILE, "expected a JSON object")),
            Err(e) => return Err(bad(CONFIG_FILE, format!("not JSON: {e}"))),
        };
        if let Some(t) = config.get("peft_type").and_then(|v| v.as_str()).filter(|t| *t != "LORA") {
            return Err(bad(CONFIG_FILE, format!("peft_type {t:?}: only LoRA adapters are supported")));
        }
        let st = SafeTensors::parse(WEIGHTS_FILE, weights)?;
        let mut tensors = BTreeMap::new();
        for t in st.tensors() {
            tensors.insert(t.name.to_string(), (t.shape.to_vec(), t.to_f32()?));
        }
        let mut metadata = st.header.metadata.clone();
        metadata.remove("webfm.adapter_config");
        Ok(AdapterFile { config, tensors, metadata })
    }

    /// Reads an adapter from its safetensors file alone (one written here:
    /// the config is in the metadata).
    pub fn parse_safetensors(weights: &[u8]) -> Result<AdapterFile> {
        let st = SafeTensors::parse(WEIGHTS_FILE, weights)?;
        let config = st
            .header
            .metadata
            .get("webfm.adapter_config")
            .ok_or_else(|| bad(WEIGHTS_FILE, "no webfm.adapter_config in the metadata: for an adapter from PEFT, pass its adapter_config.json too"))?;
        AdapterFile::parse(config.as_bytes(), weights)
    }

    /// The LoRA settings, when the adapter has LoRA tensors.
    pub fn lora_config(&self) -> Result<Option<LoraConfig>> {
        if !self.tensors.keys().any(|n| n.ends_with(".lora_A.weight")) {
            return Ok(None);
        }
        let num = |k: &str| self.config.get(k).and_then(|v| v.as_f64()).ok_or_else(|| bad(CONFIG_FILE, format!("no {k:?}")));
        let targets = match self.config.get("target_modules") {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => return Err(bad(CONFIG_FILE, "no \"target_modules\" list")),
        };
        if self.config.get("use_dora").and_then(|v| v.as_bool()) == Some(true) || self.config.get("use_rslora").and_then(|v| v.as_bool()) == Some(true) {
            return Err(bad(CONFIG_FILE, "DoRA and rsLoRA adapters are not supported"));
        }
        let cfg = LoraConfig { rank: num("r")? as usize, alpha: num("lora_alpha")? as f32, targets };
        cfg.check()?;
        Ok(Some(cfg))
    }

    /// The two files' bytes: `(adapter_config.json, adapter_model.safetensors)`.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
            self.tensors.iter().map(|(n, (s, v))| (n.clone(), s.clone(), bytemuck::cast_slice(v).to_vec())).collect();
        let entries: Vec<Entry> = bytes.iter().map(|(n, s, b)| Entry { name: n, dtype: Dtype::F32, shape: s, bytes: b }).collect();
        let mut metadata = self.metadata.clone();
        metadata.insert("webfm.adapter_config".into(), serde_json::Value::Object(self.config.clone()).to_string());
        let weights = serialize(WEIGHTS_FILE, &entries, &metadata)?;
        let config = serde_json::to_vec_pretty(&self.config).map_err(|e| bad(CONFIG_FILE, e.to_string()))?;
        Ok((config, weights))
    }

    /// A file from trained tensors (read back from the device).
    pub async fn from_params(
        params: Vec<(String, Tensor)>,
        lora: Option<&LoraConfig>,
        modules_to_save: &[&str],
        base: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<AdapterFile> {
        let mut tensors = BTreeMap::new();
        for (name, t) in params {
            tensors.insert(name, (t.shape().to_vec(), t.to_vec_f32().await?));
        }
        let mut config = serde_json::Map::new();
        config.insert("peft_type".into(), "LORA".into());
        config.insert("base_model_name_or_path".into(), base.into());
        config.insert("task_type".into(), serde_json::Value::Null);
        config.insert("inference_mode".into(), true.into());
        config.insert("bias".into(), "none".into());
        config.insert("fan_in_fan_out".into(), false.into());
        config.insert("lora_dropout".into(), 0.0.into());
        config.insert("modules_to_save".into(), if modules_to_save.is_empty() { serde_json::Value::Null } else { modules_to_save.into() });
        if let Some(l) = lora {
            config.insert("r".into(), l.rank.into());
            config.insert("lora_alpha".into(), (l.alpha as f64).into());
            config.insert("target_modules".into(), l.targets.clone().into());
        }
        Ok(AdapterFile { config, tensors, metadata })
    }

    fn tensor(&self, device: &Device, name: &str, want: &[usize], what: &str) -> Result<Tensor> {
        let (shape, v) = self.tensors.get(name).ok_or_else(|| bad(WEIGHTS_FILE, format!("no tensor {name}")))?;
        if shape != want {
            return Err(bad(WEIGHTS_FILE, format!("{name} is {shape:?}, but {what} needs {want:?}: an adapter for another base model")));
        }
        Tensor::from_f32(device, v, shape)
    }

    /// LoRA weights for the layers `(path, in, out)` of a model; every LoRA
    /// tensor in the file must belong to one of them.
    fn lora_set(&self, device: &Device, layers: &[(String, usize, usize)]) -> Result<Option<LoraSet>> {
        let Some(cfg) = self.lora_config()? else { return Ok(None) };
        let mut adapters = BTreeMap::new();
        for name in self.tensors.keys().filter(|n| n.ends_with(".lora_A.weight")) {
            let path = name.strip_prefix(PEFT_PREFIX).and_then(|n| n.strip_suffix(".lora_A.weight")).unwrap_or(name);
            let (_, inp, out) = layers
                .iter()
                .find(|(p, _, _)| p == path)
                .ok_or_else(|| bad(WEIGHTS_FILE, format!("{name}: this model has no layer {path:?} (an adapter for another base model?)")))?;
            let r = cfg.rank;
            let a = self.tensor(device, name, &[r, *inp], &format!("rank {r} on {path}"))?;
            let b = self.tensor(device, &format!("{PEFT_PREFIX}{path}.lora_B.weight"), &[*out, r], &format!("rank {r} on {path}"))?;
            adapters.insert(path.to_string(), LoraWeights { a, b });
        }
        Ok(Some(LoraSet { config: cfg, adapters }))
    }
}

impl ClassifierAdapter {
    /// The adapter as PEFT files (the head as `modules_to_save`).
    pub async fn to_file(&self, base: &str) -> Result<AdapterFile> {
        let mut meta = BTreeMap::new();
        meta.insert("format".into(), "pt".into());
        meta.insert("webfm.labels".into(), serde_json::to_string(&self.labels).expect("strings serialize"));
        meta.insert("webfm.pooling".into(), if self.pooling == Pooling::Cls { "cls" } else { "mean" }.into());
        AdapterFile::from_params(self.params(), self.lora.as_ref().map(|l| &l.config), &[HEAD], base, meta).await
    }

    /// Reads a classifier adapter for `model`: the head, and LoRA weights if
    /// any. Labels come from the file's metadata, else the model's
    /// `id2label` when the count fits, else `LABEL_i`.
    pub fn from_file(model: &Bert, file: &AdapterFile) -> Result<ClassifierAdapter> {
        let device = model.device();
        let h = model.config.hidden;
        let wname = format!("{PEFT_PREFIX}{HEAD}.weight");
        let (shape, _) = file.tensors.get(&wname).ok_or_else(|| bad(WEIGHTS_FILE, format!("no {wname}: not a classifier adapter")))?;
        let c = shape.first().copied().unwrap_or(0);
        let head_w = file.tensor(device, &wname, &[c, h], "a head on this model's hidden size")?;
        let head_b = file.tensor(device, &format!("{PEFT_PREFIX}{HEAD}.bias"), &[c], "the head")?;
        let labels = match file.metadata.get("webfm.labels") {
            Some(j) => serde_json::from_str::<Vec<String>>(j).map_err(|e| bad(WEIGHTS_FILE, format!("webfm.labels: {e}")))?,
            None if model.config.labels.len() == c => model.config.labels.clone(),
            None => (0..c).map(|i| format!("LABEL_{i}")).collect(),
        };
        if labels.len() != c {
            return Err(bad(WEIGHTS_FILE, format!("{} labels for a head of {c} outputs", labels.len())));
        }
        let pooling = match file.metadata.get("webfm.pooling").map(String::as_str) {
            Some("cls") => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let layers: Vec<(String, usize, usize)> =
            model.layers.iter().flat_map(|l| l.projections().map(|(_, p, lin)| (p.to_string(), lin.in_features, lin.out_features))).collect();
        let lora = file.lora_set(device, &layers)?;
        let mut a = ClassifierAdapter { labels, pooling, head_w, head_b, lora };
        a.check_known(file)?;
        Ok(a)
    }

    /// Every tensor of the file was used.
    fn check_known(&mut self, file: &AdapterFile) -> Result<()> {
        let known: std::collections::BTreeSet<String> = self.params().into_iter().map(|(n, _)| n).collect();
        match file.tensors.keys().find(|n| !known.contains(*n)) {
            Some(n) => Err(bad(WEIGHTS_FILE, format!("{n} belongs to no layer of this model (an adapter for another base model?)"))),
            None => Ok(()),
        }
    }
}

impl LoraSet {
    /// The adapters as PEFT files.
    pub async fn to_file(&self, base: &str) -> Result<AdapterFile> {
        let mut meta = BTreeMap::new();
        meta.insert("format".into(), "pt".into());
        AdapterFile::from_params(self.params(), Some(&self.config), &[], base, meta).await
    }
}

impl Decoder {
    /// The LoRA layers `(path, in, out)` of this decoder (Llama family only).
    fn lora_layers(&self) -> Result<Vec<(String, usize, usize)>> {
        let net = self
            .llama()
            .ok_or_else(|| Error::InvalidArgument(format!("adapters are supported on Llama-family decoders; this model is {:?}", self.info.model_type)))?;
        Ok(net.layers.iter().flat_map(|l| l.projections().map(|(_, p, lin)| (p.to_string(), lin.in_features, lin.out_features))).collect())
    }

    /// Reads a LoRA adapter for this decoder.
    pub fn read_adapter(&self, file: &AdapterFile) -> Result<LoraSet> {
        let set = file.lora_set(self.device(), &self.lora_layers()?)?.ok_or_else(|| bad(WEIGHTS_FILE, "no LoRA tensors"))?;
        let known: std::collections::BTreeSet<String> = set.params().into_iter().map(|(n, _)| n).collect();
        if let Some(n) = file.tensors.keys().find(|n| !known.contains(*n)) {
            return Err(bad(WEIGHTS_FILE, format!("{n} belongs to no layer of this model (an adapter for another base model?)")));
        }
        Ok(set)
    }

    /// Generation and logits with `set` added to its layers (or, with
    /// `None`, the base alone). With `merge`, adapters on f32 layers are
    /// folded into the weights (no extra cost per token); quantized or f16
    /// layers keep them beside. Returns how many layers merged.
    pub fn set_adapter(&self, set: Option<&LoraSet>, merge: bool) -> Result<usize> {
        let net = self
            .llama()
            .ok_or_else(|| Error::InvalidArgument(format!("adapters are supported on Llama-family decoders; this model is {:?}", self.info.model_type)))?;
        let mut merged = 0;
        for l in &net.layers {
            for (_, path, lin) in l.projections() {
                let delta = set.and_then(|s| s.get(path).map(|w| (w.a.clone(), w.b.clone(), s.scale())));
                lin.set_delta(delta)?;
                if merge && lin.merge_delta()? {
                    merged += 1;
                }
            }
        }
        Ok(merged)
    }
}
