//! BERT-family encoders: BERT, MiniLM (a BERT) and DistilBERT, one
//! implementation. Post-norm layers: `x = LN(x + Attn(x))`, `x = LN(x + FFN(x))`.
//! Heads: pooled sentence embeddings (mean or CLS, sentence-transformers'
//! `1_Pooling/config.json`), and sequence classification
//! (`BertForSequenceClassification`: pooler `tanh(W·h_cls)` then classifier;
//! `DistilBertForSequenceClassification`: `relu(pre_classifier·h_cls)` then classifier).
//!
//! Legend: `B` texts in a batch, `T` tokens of the longest (others are
//! padded), `H` hidden size, `V` vocabulary.

use super::files::ModelFiles;
use super::params::Params;
use crate::error::bad;
use crate::error::{Error, Result};
use crate::nn::{Embedding, LayerNorm, Linear, Quantization};
use crate::ops_nn::{encoder_attention, SeqLens};
use crate::tensor::{Device, Tensor};
use crate::tokenizer::{Encoded, Tokenizer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Bert,
    DistilBert,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Relu,
}

/// What `config.json` says, in one shape for both families.
#[derive(Clone, Debug)]
pub struct BertConfig {
    pub arch: Arch,
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    /// 0 for DistilBERT (no token-type table).
    pub type_vocab: usize,
    pub eps: f32,
    pub act: Activation,
    /// `id2label` in id order (empty without a classification head).
    pub labels: Vec<String>,
    pub quant: Option<Quantization>,
}

impl BertConfig {
    pub fn parse(cfg: &serde_json::Value) -> Result<BertConfig> {
        let file = "config.json";
        let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        let arch = match model_type {
            "bert" => Arch::Bert,
            "distilbert" => Arch::DistilBert,
            other => return Err(bad(file, None, "\"model_type\": \"bert\" or \"distilbert\" (an encoder)", format!("{other:?}"))),
        };
        let num = |keys: &[&str]| super::config_usize(cfg, keys);
        let (hidden, layers, heads, intermediate) = match arch {
            Arch::Bert => (num(&["hidden_size"])?, num(&["num_hidden_layers"])?, num(&["num_attention_heads"])?, num(&["intermediate_size"])?),
            Arch::DistilBert => (num(&["dim"])?, num(&["n_layers"])?, num(&["n_heads"])?, num(&["hidden_dim"])?),
        };
        if hidden % heads != 0 {
            return Err(bad(file, None, format!("a hidden size divisible by the {heads} heads"), format!("{hidden}")));
        }
        let act_name = cfg.get(if arch == Arch::Bert { "hidden_act" } else { "activation" }).and_then(|v| v.as_str()).unwrap_or("gelu");
        let act = match act_name {
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => return Err(bad(file, None, "an activation \"gelu\" or \"relu\"", format!("{other:?}"))),
        };
        let type_vocab = match arch {
            Arch::Bert => cfg.get("type_vocab_size").and_then(|v| v.as_u64()).unwrap_or(2) as usize,
            Arch::DistilBert => 0,
        };
        let eps = cfg.get("layer_norm_eps").and_then(|v| v.as_f64()).unwrap_or(1e-12) as f32;
        let mut labels = Vec::new();
        if let Some(map) = cfg.get("id2label").and_then(|v| v.as_object()) {
            let mut pairs = Vec::with_capacity(map.len());
            for (k, v) in map {
                let id: usize = k.parse().map_err(|_| bad(file, None, "id2label keys that are integers", format!("{k:?}")))?;
                pairs.push((id, v.as_str().unwrap_or_default().to_string()));
            }
            pairs.sort();
            if pairs.iter().enumerate().any(|(i, (id, _))| *id != i) {
                return Err(bad(file, None, "id2label with ids 0..n", format!("ids {:?}", pairs.iter().map(|p| p.0).collect::<Vec<_>>())));
            }
            labels = pairs.into_iter().map(|p| p.1).collect();
        }
        Ok(BertConfig {
            arch,
            vocab: num(&["vocab_size"])?,
            hidden,
            layers,
            heads,
            intermediate,
            max_positions: num(&["max_position_embeddings"])?,
            type_vocab,
            eps,
            act,
            labels,
            quant: Quantization::from_config(file, cfg)?,
        })
    }
}

/// How token states become one vector per text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Pooling> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            other => Err(Error::InvalidArgument(format!("pooling {other:?}: expected \"mean\" or \"cls\""))),
        }
    }
}

pub(crate) struct Layer {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) ln1: LayerNorm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) ln2: LayerNorm,
    /// Checkpoint paths of q, k, v, o, up, down (what LoRA targets name).
    pub(crate) paths: [String; 6],
}

enum Head {
    /// BERT: `tanh(pooler(h_cls))` then classifier.
    Pooler { pooler: Linear, classifier: Linear },
    /// DistilBERT: `relu(pre_classifier(h_cls))` then classifier.
    PreClassifier { pre: Linear, classifier: Linear },
}

/// A loaded encoder with its tokenizer.
pub struct Bert {
    pub config: BertConfig,
    device: Device,
    tokenizer: Tokenizer,
    pub(crate) word: Embedding,
    pub(crate) position: Embedding,
    pub(crate) token_type: Option<Embedding>,
    pub(crate) ln: LayerNorm,
    pub(crate) layers: Vec<Layer>,
    head: Option<Head>,
    /// From `1_Pooling/config.json`, else mean.
    pub pooling: Pooling,
    /// From `modules.json` (a Normalize module), else true.
    pub normalize: bool,
    /// Tokens per text: `max_seq_length` of `sentence_bert_config.json`, else the positions.
    pub max_tokens: usize,
}

/// One text's result of [`Bert::embed`].
#[derive(Clone, Debug)]
pub struct Embedded {
    pub ids: Vec<u32>,
    pub truncated: bool,
    pub embedding: Vec<f32>,
}

/// One label and its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

/// Options for tokenizing: `truncate` (default true) cuts texts to
/// `max_tokens`; when false, a longer text is an error.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    pub truncate: bool,
    pub max_tokens: Option<usize>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { truncate: true, max_tokens: None }
    }
}

/// Checkpoint name prefix of the encoder: `bert.`, `distilbert.` or none.
fn find_prefix(p: &Params, arch: Arch) -> String {
    let candidates: &[&str] = match arch {
        Arch::Bert => &["bert.", ""],
        Arch::DistilBert => &["distilbert.", ""],
    };
    for c in candidates {
        if p.contains(&format!("{c}embeddings.word_embeddings.weight")) {
            return c.to_string();
        }
    }
    candidates[0].to_string()
}

impl Bert {
    /// Builds the model from a folder's small files and its loaded weights,
    /// checking every tensor's shape against the config.
    pub fn new(files: &ModelFiles, params: &Params) -> Result<Bert> {
        let config_json = files.config_json()?;
        let mut cfg = BertConfig::parse(&config_json)?;
        cfg.quant = cfg.quant.or(params.quantized_on_load());
        let tokenizer = Tokenizer::from_bytes("tokenizer.json", &files.tokenizer)?;
        tokenizer.check_fits(cfg.vocab)?;
        let (h, f) = (cfg.hidden, cfg.intermediate);
        let pre = find_prefix(params, cfg.arch);
        let hh = "hidden_size × hidden_size";
        // Each module's own bits and group (a `--mixed` conversion), else the folder's.
        let qm = |path: &str| Quantization::for_module(&config_json, params, path);
        let lin = |name: &str, out, inp, why: &str| {
            let path = format!("{pre}{name}");
            Linear::load(params, &path, out, inp, true, qm(&path), why)
        };
        let ln = |name: &str| LayerNorm::load(params, &format!("{pre}{name}"), h, cfg.eps, "hidden_size");
        let word = Embedding::load(
            params,
            &format!("{pre}embeddings.word_embeddings"),
            cfg.vocab,
            h,
            qm(&format!("{pre}embeddings.word_embeddings")),
            "vocab_size × hidden_size",
        )?;
        let position =
            Embedding::load(params, &format!("{pre}embeddings.position_embeddings"), cfg.max_positions, h, None, "max_position_embeddings × hidden_size")?;
        let token_type = match cfg.arch {
            Arch::Bert if cfg.type_vocab > 0 => {
                Some(Embedding::load(params, &format!("{pre}embeddings.token_type_embeddings"), cfg.type_vocab, h, None, "type_vocab_size × hidden_size")?)
            }
            _ => None,
        };
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let layer = match cfg.arch {
                Arch::Bert => {
                    let l = format!("encoder.layer.{i}");
                    let paths =
                        ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"]
                            .map(|n| format!("{pre}{l}.{n}"));
                    Layer {
                        paths,
                        q: lin(&format!("{l}.attention.self.query"), h, h, hh)?,
                        k: lin(&format!("{l}.attention.self.key"), h, h, hh)?,
                        v: lin(&format!("{l}.attention.self.value"), h, h, hh)?,
                        o: lin(&format!("{l}.attention.output.dense"), h, h, hh)?,
                        ln1: ln(&format!("{l}.attention.output.LayerNorm"))?,
                        up: lin(&format!("{l}.intermediate.dense"), f, h, "intermediate_size × hidden_size")?,
                        down: lin(&format!("{l}.output.dense"), h, f, "hidden_size × intermediate_size")?,
                        ln2: ln(&format!("{l}.output.LayerNorm"))?,
                    }
                }
                Arch::DistilBert => {
                    let l = format!("transformer.layer.{i}");
                    let paths =
                        ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2"].map(|n| format!("{pre}{l}.{n}"));
                    Layer {
                        paths,
                        q: lin(&format!("{l}.attention.q_lin"), h, h, "dim × dim")?,
                        k: lin(&format!("{l}.attention.k_lin"), h, h, "dim × dim")?,
                        v: lin(&format!("{l}.attention.v_lin"), h, h, "dim × dim")?,
                        o: lin(&format!("{l}.attention.out_lin"), h, h, "dim × dim")?,
                        ln1: ln(&format!("{l}.sa_layer_norm"))?,
                        up: lin(&format!("{l}.ffn.lin1"), f, h, "hidden_dim × dim")?,
                        down: lin(&format!("{l}.ffn.lin2"), h, f, "dim × hidden_dim")?,
                        ln2: ln(&format!("{l}.output_layer_norm"))?,
                    }
                }
            };
            layers.push(layer);
        }
        let n_labels = cfg.labels.len().max(1);
        let head = match cfg.arch {
            _ if !params.contains("classifier.weight") => None,
            Arch::Bert => Some(Head::Pooler {
                pooler: lin("pooler.dense", h, h, hh)?,
                classifier: Linear::load(params, "classifier", n_labels, h, true, qm("classifier"), "labels (id2label) × hidden_size")?,
            }),
            Arch::DistilBert => Some(Head::PreClassifier {
                pre: Linear::load(params, "pre_classifier", h, h, true, qm("pre_classifier"), "dim × dim")?,
                classifier: Linear::load(params, "classifier", n_labels, h, true, qm("classifier"), "labels (id2label) × dim")?,
            }),
        };
        let pooling = match files.extra_json("1_Pooling/config.json")? {
            Some(pc) if pc.get("pooling_mode_cls_token").and_then(|v| v.as_bool()) == Some(true) => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let normalize = match files.extra_json("modules.json")? {
            Some(m) => m.as_array().is_some_and(|mods| mods.iter().any(|x| x.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.ends_with("Normalize")))),
            None => true,
        };
        let max_tokens = files
            .extra_json("sentence_bert_config.json")?
            .and_then(|s| s.get("max_seq_length").and_then(|v| v.as_u64()))
            .map_or(cfg.max_positions, |m| (m as usize).min(cfg.max_positions));
        let ln0 = LayerNorm::load(params, &format!("{pre}embeddings.LayerNorm"), h, cfg.eps, "hidden_size")?;
        Ok(Bert { device: params.device().clone(), tokenizer, word, position, token_type, ln: ln0, layers, head, pooling, normalize, max_tokens, config: cfg })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn has_classifier(&self) -> bool {
        self.head.is_some()
    }

    /// Tokenizes one text for this model.
    pub fn encode(&self, text: &str, opt: EncodeOptions) -> Result<Encoded> {
        let max = opt.max_tokens.unwrap_or(self.max_tokens).min(self.config.max_positions);
        if opt.truncate {
            return self.tokenizer.encode(text, Some(max));
        }
        let e = self.tokenizer.encode(text, None)?;
        if e.ids.len() > max {
            return Err(Error::InvalidArgument(format!(
                "the text has {} tokens, more than the {max} this model takes; pass truncate: true to cut it",
                e.ids.len()
            )));
        }
        Ok(e)
    }

    /// Tokenizes a text pair (sentence-pair classification); never truncated.
    pub fn encode_pair(&self, a: &str, b: &str, opt: EncodeOptions) -> Result<Encoded> {
        self.tokenizer.encode_pair(a, b, Some(opt.max_tokens.unwrap_or(self.max_tokens).min(self.config.max_positions)))
    }

    /// The last hidden states `[B, T, H]` of a batch (padded to the longest).
    pub fn forward(&self, batch: &[Encoded]) -> Result<Tensor> {
        self.forward_tapped(batch, &mut |_, _| Ok(()))
    }

    /// [`forward`](Self::forward), handing `tap` each encoder linear layer's
    /// input with the checkpoint paths (without `.weight`) of the layers that
    /// read it (query, key and value share one), before they run: what calibrated quantization (`webfm convert
    /// --calibrate`) gathers its statistics from.
    pub fn forward_tapped(&self, batch: &[Encoded], tap: &mut dyn FnMut(&[String], &Tensor) -> Result<()>) -> Result<Tensor> {
        let b = batch.len();
        let t = batch.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if b == 0 || t == 0 {
            return Err(Error::InvalidArgument("encoder: nothing to encode (no texts, or texts with no tokens)".into()));
        }
        if t > self.config.max_positions {
            return Err(Error::InvalidArgument(format!("encoder: {t} tokens, more than the {} positions of the model", self.config.max_positions)));
        }
        let h = self.config.hidden;
        let (mut ids, mut types, mut positions) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t), Vec::with_capacity(b * t));
        for e in batch {
            for i in 0..t {
                ids.push(e.ids.get(i).copied().unwrap_or(0));
                types.push(e.type_ids.get(i).copied().unwrap_or(0));
                positions.push(i as u32);
            }
        }
        let lens = SeqLens::new(&self.device, &batch.iter().map(|e| e.ids.len()).collect::<Vec<_>>())?;
        let mut x = self.word.forward(&self.device, &ids)?.add(&self.position.forward(&self.device, &positions)?)?;
        if let Some(tt) = &self.token_type {
            x = x.add(&tt.forward(&self.device, &types)?)?;
        }
        let mut x = self.ln.forward(&x)?.reshape(&[b, t, h])?;
        for layer in &self.layers {
            tap(&layer.paths[..3], &x)?;
            let a = encoder_attention(&layer.q.forward(&x)?, &layer.k.forward(&x)?, &layer.v.forward(&x)?, &lens, self.config.heads)?;
            tap(&layer.paths[3..4], &a)?;
            x = layer.ln1.forward(&layer.o.forward(&a)?.add(&x)?)?;
            tap(&layer.paths[4..5], &x)?;
            let up = layer.up.forward(&x)?;
            let up = match self.config.act {
                Activation::Gelu => up.gelu()?,
                Activation::Relu => up.relu()?,
            };
            tap(&layer.paths[5..6], &up)?;
            x = layer.ln2.forward(&layer.down.forward(&up)?.add(&x)?)?;
        }
        Ok(x)
    }

    /// Sentence embeddings: pooled (`pooling`, default the folder's) and,
    /// when `normalize`, scaled to unit length.
    pub async fn embed(&self, texts: &[&str], pooling: Option<Pooling>, normalize: Option<bool>, opt: EncodeOptions) -> Result<Vec<Embedded>> {
        let encoded = texts.iter().map(|t| self.encode(t, opt)).collect::<Result<Vec<_>>>()?;
        let pooling = pooling.unwrap_or(self.pooling);
        let normalize = normalize.unwrap_or(self.normalize);
        let h = self.config.hidden;
        let mut out: Vec<Option<Embedded>> = vec![None; encoded.len()];
        for group in length_batches(&encoded) {
            let batch: Vec<Encoded> = group.iter().map(|&i| encoded[i].clone()).collect();
            let hidden = self.forward(&batch)?.to_vec_f32().await?;
            let t = batch.iter().map(|e| e.ids.len()).max().unwrap_or(0);
            for (slot, (&i, e)) in group.iter().zip(batch).enumerate() {
                let rows = &hidden[slot * t * h..(slot + 1) * t * h];
                let mut v = match pooling {
                    Pooling::Cls => rows[..h].to_vec(),
                    Pooling::Mean => mean_rows(rows, h, e.ids.len()),
                };
                if normalize {
                    l2_normalize(&mut v);
                }
                out[i] = Some(Embedded { ids: e.ids, truncated: e.truncated, embedding: v });
            }
        }
        Ok(out.into_iter().map(|e| e.expect("every text is in one batch")).collect())
    }

    /// Logits `[B, labels]` of the classification head.
    pub async fn logits(&self, batch: &[Encoded]) -> Result<Vec<Vec<f32>>> {
        let head = self.head.as_ref().ok_or_else(|| {
            Error::InvalidArgument(
                "classify: this model has no classification head (no classifier.weight); pass candidate labels for zero-shot classification".into(),
            )
        })?;
        let hidden = self.forward(batch)?;
        let (b, t, h) = (batch.len(), hidden.shape()[1], self.config.hidden);
        let cls = hidden.reshape(&[b, t * h])?.narrow_last(0, h)?;
        let (mid, classifier) = match head {
            Head::Pooler { pooler, classifier } => (pooler.forward(&cls)?.tanh()?, classifier),
            Head::PreClassifier { pre, classifier } => (pre.forward(&cls)?.relu()?, classifier),
        };
        let logits = classifier.forward(&mid)?.to_vec_f32().await?;
        let n = classifier.out_features;
        Ok(logits.chunks(n.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// Label names (id2label, or `LABEL_i`).
    pub fn label(&self, i: usize) -> String {
        self.config.labels.get(i).cloned().unwrap_or_else(|| format!("LABEL_{i}"))
    }

    /// Labels with softmax scores, best first, at most `top_k` per text.
    /// Texts go through the model in batches of similar length, like [`Bert::embed`].
    pub async fn classify(&self, texts: &[&str], top_k: Option<usize>, opt: EncodeOptions) -> Result<Vec<Vec<LabelScore>>> {
        let encoded = texts.iter().map(|t| self.encode(t, opt)).collect::<Result<Vec<_>>>()?;
        let mut out = vec![Vec::new(); encoded.len()];
        for group in length_batches(&encoded) {
            let batch: Vec<Encoded> = group.iter().map(|&i| encoded[i].clone()).collect();
            for (&i, l) in group.iter().zip(self.logits(&batch).await?) {
                out[i] = ranked(softmax(&l).into_iter().enumerate().map(|(j, s)| LabelScore { label: self.label(j), score: s }).collect(), top_k);
            }
        }
        Ok(out)
    }

    /// Zero-shot: `text` against each label put into `template` ("{}" is
    /// replaced by the label), scored by embedding cosine similarity and
    /// turned into probabilities with a softmax at temperature 0.05 (`score`),
    /// best first.
    pub async fn zero_shot(&self, text: &str, labels: &[&str], template: &str, opt: EncodeOptions) -> Result<Vec<LabelScore>> {
        if labels.is_empty() {
            return Err(Error::InvalidArgument("zero-shot: no candidate labels".into()));
        }
        if !template.contains("{}") {
            return Err(Error::InvalidArgument(format!("zero-shot: the template {template:?} has no {{}} for the label")));
        }
        let mut texts = vec![text.to_string()];
        texts.extend(labels.iter().map(|l| template.replace("{}", l)));
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let e = self.embed(&refs, None, Some(true), opt).await?;
        let sims: Vec<f32> = e[1..].iter().map(|x| dot(&e[0].embedding, &x.embedding)).collect();
        let probs = softmax(&sims.iter().map(|s| s / ZERO_SHOT_TEMPERATURE).collect::<Vec<_>>());
        Ok(ranked(labels.iter().zip(probs).map(|(l, s)| LabelScore { label: l.to_string(), score: s }).collect(), None))
    }
}

/// Texts per forward pass, and padded tokens per forward pass, in
/// [`Bert::embed`] and [`Bert::classify`].
const BATCH_TEXTS: usize = 16;
const BATCH_TOKENS: usize = 2048;

/// Indices of `texts` in batches of similar length (sorted by token count),
/// so that a short text is not padded to a long one's length: a text joins
/// the current batch when it is at most 1.5 × the batch's shortest plus 8
/// tokens, and the batch stays within [`BATCH_TEXTS`] texts and
/// [`BATCH_TOKENS`] padded tokens.
fn length_batches(texts: &[Encoded]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].ids.len());
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let len = texts[i].ids.len().max(1);
        match batches.last_mut() {
            // Sorted ascending: b[0] is the shortest, this text the longest so far.
            Some(b) if b.len() < BATCH_TEXTS && (b.len() + 1) * len <= BATCH_TOKENS && len <= texts[b[0]].ids.len() * 3 / 2 + 8 => b.push(i),
            _ => batches.push(vec![i]),
        }
    }
    batches
}

/// Softmax temperature over cosine similarities in [`Bert::zero_shot`].
pub const ZERO_SHOT_TEMPERATURE: f32 = 0.05;

pub(crate) fn ranked(mut v: Vec<LabelScore>, top_k: Option<usize>) -> Vec<LabelScore> {
    v.sort_by(|a, b| b.score.total_cmp(&a.score));
    v.truncate(top_k.unwrap_or(usize::MAX));
    v
}

/// The mean of the first `n` rows of `rows` (rows of `h`).
pub fn mean_rows(rows: &[f32], h: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0f32; h];
    for r in rows.chunks(h).take(n) {
        for (a, x) in v.iter_mut().zip(r) {
            *a += x;
        }
    }
    let n = n.max(1) as f32;
    v.iter_mut().for_each(|a| *a /= n);
    v
}

/// Scales `v` to unit length (sentence-transformers' Normalize: eps 1e-12).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let n = (dot(a, a) * dot(b, b)).sqrt();
    if n == 0.0 {
        0.0
    } else {
        dot(a, b) / n
    }
}

pub fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
