//! BERT-family encoders: BERT, MiniLM (a BERT) and DistilBERT, one
//! implementation. Post-norm layers: `x = LN(x + Attn(x))`, `x = LN(x + FFN(x))`.
//! Heads (the weights of `BertForSequenceClassification`: pooler `tanh(W·h_cls)`
//! then classifier; `DistilBertForSequenceClassification`: `relu(pre_classifier·h_cls)`
//! then classifier) and the folder's sentence-transformers settings; what is
//! done with the states (pooling, labels, zero-shot) is in `crate::tasks`.
//!
//! Legend: `B` texts in a batch, `T` tokens of the longest (others are
//! padded), `H` hidden size, `V` vocabulary.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::config::{from_json, lenient, positive, QuantizationConfig, CONFIG_FILE};
use super::files::ModelFiles;
use super::params::{Params, Scope};
use super::{proj_name, Proj, Projections};
use crate::error::bad;
use crate::error::{Error, Result};
use crate::nn::{Embedding, LayerNorm, Linear, Quantization};
use crate::ops::nn::{encoder_attention, SeqLens};
use crate::ops::tensor::{Device, Tensor};
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

/// `config.json` of a BERT or DistilBERT model, by its own names
/// (DistilBERT's in the aliases).
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfigJson {
    #[serde(default, deserialize_with = "lenient")]
    pub model_type: String,
    #[serde(default, deserialize_with = "lenient", alias = "dim")]
    pub hidden_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "n_layers")]
    pub num_hidden_layers: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "n_heads")]
    pub num_attention_heads: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "hidden_dim")]
    pub intermediate_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub vocab_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub max_position_embeddings: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub type_vocab_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub layer_norm_eps: Option<f64>,
    /// BERT's `hidden_act`, DistilBERT's `activation`.
    #[serde(default, deserialize_with = "lenient", alias = "activation")]
    pub hidden_act: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub id2label: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub quantization: Option<serde_json::Value>,
}

/// What the model uses, in one shape for both families.
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
    pub quantization: Option<QuantizationConfig>,
}

impl BertConfigJson {
    /// Checks the fields (each error names the field, the expected and the found).
    pub fn validate(&self) -> Result<BertConfig> {
        let file = CONFIG_FILE;
        let arch = match self.model_type.as_str() {
            "bert" => Arch::Bert,
            "distilbert" => Arch::DistilBert,
            other => return Err(bad(file, None, "\"model_type\": \"bert\" or \"distilbert\" (an encoder)", format!("{other:?}"))),
        };
        // Errors name the family's own field.
        let name = |bert: &'static str, distil: &'static str| if arch == Arch::Bert { bert } else { distil };
        let hidden = positive(self.hidden_size, name("hidden_size", "dim"))?;
        let layers = positive(self.num_hidden_layers, name("num_hidden_layers", "n_layers"))?;
        let heads = positive(self.num_attention_heads, name("num_attention_heads", "n_heads"))?;
        let intermediate = positive(self.intermediate_size, name("intermediate_size", "hidden_dim"))?;
        if hidden % heads != 0 {
            return Err(bad(file, None, format!("a hidden size divisible by the {heads} heads"), format!("{hidden}")));
        }
        let act = match self.hidden_act.as_deref().unwrap_or("gelu") {
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => return Err(bad(file, None, "an activation \"gelu\" or \"relu\"", format!("{other:?}"))),
        };
        let type_vocab = match arch {
            Arch::Bert => self.type_vocab_size.unwrap_or(2),
            Arch::DistilBert => 0,
        };
        let mut labels = Vec::new();
        if let Some(map) = &self.id2label {
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
        let vocab = positive(self.vocab_size, "vocab_size")?;
        let max_positions = positive(self.max_position_embeddings, "max_position_embeddings")?;
        let quantization = QuantizationConfig::parse(file, self.quantization.as_ref())?;
        Ok(BertConfig {
            arch,
            vocab,
            hidden,
            layers,
            heads,
            intermediate,
            max_positions,
            type_vocab,
            eps: self.layer_norm_eps.unwrap_or(1e-12) as f32,
            act,
            labels,
            quant: quantization.as_ref().map(|q| q.folder),
            quantization,
        })
    }
}

impl BertConfig {
    pub fn parse(cfg: &serde_json::Value) -> Result<BertConfig> {
        from_json::<BertConfigJson>(CONFIG_FILE, cfg)?.validate()
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

/// Checkpoint names of a layer's projections, under `encoder.layer.{i}`.
const BERT_PROJ: [(Proj, &str); 6] = [
    (Proj::Q, "attention.self.query"),
    (Proj::K, "attention.self.key"),
    (Proj::V, "attention.self.value"),
    (Proj::O, "attention.output.dense"),
    (Proj::Up, "intermediate.dense"),
    (Proj::Down, "output.dense"),
];

/// Checkpoint names of a layer's projections, under `transformer.layer.{i}`.
const DISTILBERT_PROJ: [(Proj, &str); 6] = [
    (Proj::Q, "attention.q_lin"),
    (Proj::K, "attention.k_lin"),
    (Proj::V, "attention.v_lin"),
    (Proj::O, "attention.out_lin"),
    (Proj::Up, "ffn.lin1"),
    (Proj::Down, "ffn.lin2"),
];

pub(crate) struct Layer {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) ln1: LayerNorm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) ln2: LayerNorm,
    /// Checkpoint paths of the projections (what LoRA targets name).
    paths: Projections<6>,
}

impl Layer {
    /// Layer `l` (a scope `encoder.layer.{i}` or `transformer.layer.{i}`).
    fn load(l: &Scope, c: &BertConfig) -> Result<Layer> {
        let (h, f) = (c.hidden, c.intermediate);
        let ln = |name: &str| l.layer_norm(name, h, c.eps, "hidden_size");
        let table = Self::table(c.arch);
        let lin = |p: Proj, out, inp, why: &str| l.linear(proj_name(table, p), out, inp, true, why);
        Ok(match c.arch {
            Arch::Bert => {
                let hh = "hidden_size × hidden_size";
                Layer {
                    q: lin(Proj::Q, h, h, hh)?,
                    k: lin(Proj::K, h, h, hh)?,
                    v: lin(Proj::V, h, h, hh)?,
                    o: lin(Proj::O, h, h, hh)?,
                    ln1: ln("attention.output.LayerNorm")?,
                    up: lin(Proj::Up, f, h, "intermediate_size × hidden_size")?,
                    down: lin(Proj::Down, h, f, "hidden_size × intermediate_size")?,
                    ln2: ln("output.LayerNorm")?,
                    paths: Projections::new(l, table),
                }
            }
            Arch::DistilBert => Layer {
                q: lin(Proj::Q, h, h, "dim × dim")?,
                k: lin(Proj::K, h, h, "dim × dim")?,
                v: lin(Proj::V, h, h, "dim × dim")?,
                o: lin(Proj::O, h, h, "dim × dim")?,
                ln1: ln("sa_layer_norm")?,
                up: lin(Proj::Up, f, h, "hidden_dim × dim")?,
                down: lin(Proj::Down, h, f, "dim × hidden_dim")?,
                ln2: ln("output_layer_norm")?,
                paths: Projections::new(l, table),
            },
        })
    }

    fn table(arch: Arch) -> &'static [(Proj, &'static str); 6] {
        match arch {
            Arch::Bert => &BERT_PROJ,
            Arch::DistilBert => &DISTILBERT_PROJ,
        }
    }

    /// The projection `p`.
    pub(crate) fn linear(&self, p: Proj) -> &Linear {
        match p {
            Proj::Q => &self.q,
            Proj::K => &self.k,
            Proj::V => &self.v,
            Proj::O => &self.o,
            Proj::Up => &self.up,
            Proj::Down => &self.down,
            Proj::Gate => unreachable!("BERT layers have no gate projection"),
        }
    }

    /// The checkpoint path of projection `p` (without `.weight`).
    pub(crate) fn path(&self, p: Proj) -> &str {
        self.paths.path(p)
    }

    /// Each projection with its checkpoint path.
    pub(crate) fn projections(&self) -> impl Iterator<Item = (Proj, &str, &Linear)> {
        self.paths.iter().map(|(p, path)| (p, path, self.linear(p)))
    }

    /// The layer, post-norm: `h1 = x + O(Attn(Q·x, K·x, V·x))`, `x1 = LN1(h1)`,
    /// `h2 = x1 + Down(act(Up·x1))`, out `LN2(h2)`. The one forward of
    /// inference, calibration and training: `hooks` run the projections and
    /// the attention, and see what a backward keeps.
    pub(crate) fn forward(&self, x: &Tensor, act: Activation, hooks: &mut dyn EncoderHooks) -> Result<Tensor> {
        let (q, k, v) = (hooks.project(self, Proj::Q, x)?, hooks.project(self, Proj::K, x)?, hooks.project(self, Proj::V, x)?);
        let a = hooks.attend(&q, &k, &v)?;
        let h1 = hooks.project(self, Proj::O, &a)?.add(x)?;
        hooks.keep(Kept::AttentionResidual, &h1);
        let x1 = self.ln1.forward(&h1)?;
        let pre_act = hooks.project(self, Proj::Up, &x1)?;
        hooks.keep(Kept::PreActivation, &pre_act);
        let up = match act {
            Activation::Gelu => pre_act.gelu()?,
            Activation::Relu => pre_act.relu()?,
        };
        let h2 = hooks.project(self, Proj::Down, &up)?.add(&x1)?;
        hooks.keep(Kept::FfnResidual, &h2);
        self.ln2.forward(&h2)
    }
}

/// The activations of [`Layer::forward`] that a backward reads besides the
/// projections' inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    /// `h1`, the first layer norm's input.
    AttentionResidual,
    /// `Up·x1`, the activation's input.
    PreActivation,
    /// `h2`, the second layer norm's input.
    FfnResidual,
}

/// What runs around [`Layer::forward`]: each projection (plainly, tapped for
/// calibration, or through a LoRA adapter that keeps its input), the
/// attention of q, k, v, and what a backward keeps.
pub(crate) trait EncoderHooks {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor>;
    fn attend(&mut self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor>;
    fn keep(&mut self, _what: Kept, _t: &Tensor) {}
}

/// Inference: the projections as they are (a loaded adapter sits inside
/// `Linear`), the fused attention kernel over padded texts; `tap` sees each
/// projection's input once per input (q, k and v share theirs).
struct Inference<'a> {
    lens: &'a SeqLens,
    heads: usize,
    tap: &'a mut dyn FnMut(&[String], &Tensor) -> Result<()>,
}

impl EncoderHooks for Inference<'_> {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor> {
        let readers: &[Proj] = match p {
            Proj::Q => &[Proj::Q, Proj::K, Proj::V],
            Proj::K | Proj::V => &[],
            _ => std::slice::from_ref(&p),
        };
        if !readers.is_empty() {
            (self.tap)(&readers.iter().map(|&r| layer.path(r).to_string()).collect::<Vec<_>>(), x)?;
        }
        layer.linear(p).forward(x)
    }

    fn attend(&mut self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        encoder_attention(q, k, v, self.lens, self.heads)
    }
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

/// Checkpoint name prefix of the encoder: `bert`, `distilbert` or none.
fn find_prefix(p: &Params, arch: Arch) -> &'static str {
    let candidates: &[&str] = match arch {
        Arch::Bert => &["bert", ""],
        Arch::DistilBert => &["distilbert", ""],
    };
    let root = Scope::new(p, None);
    candidates.iter().find(|c| root.pp(c).contains("embeddings.word_embeddings.weight")).unwrap_or(&candidates[0])
}

/// `1_Pooling/config.json` of a sentence-transformers folder.
#[derive(Deserialize)]
struct PoolingJson {
    #[serde(default, deserialize_with = "lenient")]
    pooling_mode_cls_token: Option<bool>,
}

/// One entry of `modules.json`.
#[derive(Deserialize)]
struct ModuleJson {
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    kind: Option<String>,
}

/// `sentence_bert_config.json`.
#[derive(Deserialize)]
struct SentenceBertJson {
    #[serde(default, deserialize_with = "lenient")]
    max_seq_length: Option<usize>,
}

impl Bert {
    /// Builds the model from a folder's small files and its loaded weights,
    /// checking every tensor's shape against the config.
    pub fn new(files: &ModelFiles, params: &Params) -> Result<Bert> {
        let mut cfg = BertConfig::parse(&files.config_json()?)?;
        cfg.quant = cfg.quant.or(params.quantized_on_load());
        let tokenizer = Tokenizer::from_bytes("tokenizer.json", &files.tokenizer)?;
        tokenizer.check_fits(cfg.vocab)?;
        let h = cfg.hidden;
        // Each module's own bits and group (a `--mixed` conversion), else the folder's.
        let root = Scope::new(params, cfg.quantization.as_ref());
        let enc = root.pp(find_prefix(params, cfg.arch));
        let e = enc.pp("embeddings");
        let word = e.embedding("word_embeddings", cfg.vocab, h, "vocab_size × hidden_size")?;
        let position = e.float_embedding("position_embeddings", cfg.max_positions, h, "max_position_embeddings × hidden_size")?;
        let token_type = match cfg.arch {
            Arch::Bert if cfg.type_vocab > 0 => Some(e.float_embedding("token_type_embeddings", cfg.type_vocab, h, "type_vocab_size × hidden_size")?),
            _ => None,
        };
        let stack = enc.pp(match cfg.arch {
            Arch::Bert => "encoder.layer",
            Arch::DistilBert => "transformer.layer",
        });
        let layers = (0..cfg.layers).map(|i| Layer::load(&stack.pp(i.to_string()), &cfg)).collect::<Result<Vec<_>>>()?;
        let n_labels = cfg.labels.len().max(1);
        let head = match cfg.arch {
            _ if !root.contains("classifier.weight") => None,
            Arch::Bert => Some(Head::Pooler {
                pooler: enc.linear("pooler.dense", h, h, true, "hidden_size × hidden_size")?,
                classifier: root.linear("classifier", n_labels, h, true, "labels (id2label) × hidden_size")?,
            }),
            Arch::DistilBert => Some(Head::PreClassifier {
                pre: root.linear("pre_classifier", h, h, true, "dim × dim")?,
                classifier: root.linear("classifier", n_labels, h, true, "labels (id2label) × dim")?,
            }),
        };
        let json = |name: &str| files.extra_json(name);
        let pooling = match json("1_Pooling/config.json")?.and_then(|v| PoolingJson::deserialize(&v).ok()) {
            Some(PoolingJson { pooling_mode_cls_token: Some(true) }) => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let normalize = match json("modules.json")? {
            Some(m) => Vec::<ModuleJson>::deserialize(&m).is_ok_and(|mods| mods.iter().any(|x| x.kind.as_deref().is_some_and(|t| t.ends_with("Normalize")))),
            None => true,
        };
        let max_tokens = json("sentence_bert_config.json")?
            .and_then(|s| SentenceBertJson::deserialize(&s).ok()?.max_seq_length)
            .map_or(cfg.max_positions, |m| m.min(cfg.max_positions));
        let ln = e.layer_norm("LayerNorm", h, cfg.eps, "hidden_size")?;
        Ok(Bert { device: params.device().clone(), tokenizer, word, position, token_type, ln, layers, head, pooling, normalize, max_tokens, config: cfg })
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
        let lens = SeqLens::new(&self.device, &batch.iter().map(|e| e.ids.len()).collect::<Vec<_>>())?;
        let mut x = self.token_embeddings(&batch.iter().collect::<Vec<_>>(), t)?.reshape(&[b, t, self.config.hidden])?;
        let mut hooks = Inference { lens: &lens, heads: self.config.heads, tap };
        for layer in &self.layers {
            x = layer.forward(&x, self.config.act, &mut hooks)?;
        }
        Ok(x)
    }

    /// Embeddings and the first layer norm of a batch padded to `t` tokens
    /// (padding rows hold the pad id's): `[B·T, H]`.
    pub(crate) fn token_embeddings(&self, batch: &[&Encoded], t: usize) -> Result<Tensor> {
        let n = batch.len() * t;
        let (mut ids, mut types, mut positions) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for e in batch {
            for i in 0..t {
                ids.push(e.ids.get(i).copied().unwrap_or(0));
                types.push(e.type_ids.get(i).copied().unwrap_or(0));
                positions.push(i as u32);
            }
        }
        let mut x = self.word.forward(&self.device, &ids)?.add(&self.position.forward(&self.device, &positions)?)?;
        if let Some(tt) = &self.token_type {
            x = x.add(&tt.forward(&self.device, &types)?)?;
        }
        self.ln.forward(&x)
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
}
