//! Llama-family decoders: Llama (2, 3 with `rope_scaling` "llama3"),
//! SmolLM/SmolLM2, Mistral and Qwen2 (q/k/v biases). Pre-norm layers:
//! `x += o(Attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x))))`, then
//! `x += down(silu(gate(n2(x))) · up(n2(x)))`, RMS norms, grouped-query
//! attention over a KV cache, tied or separate output embeddings.
//!
//! Legend: `T` new tokens, `H` hidden size, `V` vocabulary.

use serde::Deserialize;

use super::config::{from_json, lenient, positive, QuantizationConfig, CONFIG_FILE};
use super::params::{Params, Scope};
use super::{proj_name, Proj, Projections};
use crate::error::bad;
use crate::error::Result;
use crate::nn::{Embedding, Linear};
use crate::ops::decoder::{rope_inv_freq, KvCache, RopeScaling, RopeTable};
use crate::ops::tensor::Tensor;

/// `config.json` of a Llama-family model (Llama, Mistral, Qwen2, SmolLM), by its own names.
#[derive(Clone, Debug, Deserialize)]
pub struct LlamaConfigJson {
    #[serde(default, deserialize_with = "lenient")]
    pub model_type: String,
    #[serde(default, deserialize_with = "lenient")]
    pub vocab_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub hidden_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub num_hidden_layers: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub num_attention_heads: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub head_dim: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub intermediate_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub max_position_embeddings: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub hidden_act: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub rms_norm_eps: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub rope_theta: Option<f32>,
    /// transformers 5 writes `rope_parameters` (with `rope_theta` inside);
    /// older files `rope_theta` and `rope_scaling` at the top level.
    #[serde(default, deserialize_with = "lenient")]
    pub rope_parameters: Option<RopeJson>,
    #[serde(default, deserialize_with = "lenient")]
    pub rope_scaling: Option<RopeJson>,
    #[serde(default, deserialize_with = "lenient")]
    pub attention_bias: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub mlp_bias: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub use_sliding_window: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub quantization: Option<serde_json::Value>,
}

/// `rope_parameters` / `rope_scaling`.
#[derive(Clone, Debug, Deserialize)]
pub struct RopeJson {
    #[serde(default, deserialize_with = "lenient")]
    pub rope_type: Option<String>,
    /// The older name of `rope_type` (files may hold both).
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub rope_theta: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub factor: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub low_freq_factor: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub high_freq_factor: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub original_max_position_embeddings: Option<f32>,
}

#[derive(Clone, Debug)]
pub struct LlamaConfig {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub eps: f32,
    pub rope_theta: f32,
    pub rope_scaling: RopeScaling,
    /// Biases on q, k and v (Qwen2; Llama's `attention_bias`).
    pub qkv_bias: bool,
    pub mlp_bias: bool,
    pub tie_embeddings: bool,
    pub quantization: Option<QuantizationConfig>,
}

impl LlamaConfigJson {
    /// Checks the fields (each error names the field, the expected and the found).
    pub fn validate(&self) -> Result<LlamaConfig> {
        let file = CONFIG_FILE;
        let (hidden, heads) = (positive(self.hidden_size, "hidden_size")?, positive(self.num_attention_heads, "num_attention_heads")?);
        let kv_heads = self.num_key_value_heads.unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(bad(file, None, format!("num_key_value_heads dividing the {heads} attention heads"), kv_heads.to_string()));
        }
        let head_dim = self.head_dim.unwrap_or(hidden / heads);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(bad(file, None, "an even head size (head_dim, or hidden_size / num_attention_heads)", head_dim.to_string()));
        }
        // The q projection is num_attention_heads × head_dim wide (k and v, with fewer heads, narrower).
        if heads.checked_mul(head_dim).is_none() {
            return Err(bad(file, None, "num_attention_heads × head_dim that fits in usize", format!("{heads} × {head_dim}")));
        }
        let act = self.hidden_act.as_deref().unwrap_or("silu");
        if act != "silu" {
            return Err(bad(file, None, "\"hidden_act\": \"silu\" (SwiGLU)", format!("{act:?}")));
        }
        let rope = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let rope_theta = self.rope_theta.or(rope.and_then(|r| r.rope_theta)).unwrap_or(10000.0);
        let rope_scaling = match rope {
            None => RopeScaling::None,
            Some(r) => {
                let kind = r.rope_type.as_deref().or(r.kind.as_deref()).unwrap_or("default");
                let f = |v: Option<f32>, k: &str| v.ok_or_else(|| bad(file, None, format!("rope scaling \"{k}\" for rope_type {kind:?}"), "none"));
                match kind {
                    "default" => RopeScaling::None,
                    "linear" => RopeScaling::Linear { factor: f(r.factor, "factor")? },
                    "llama3" => RopeScaling::Llama3 {
                        factor: f(r.factor, "factor")?,
                        low_freq_factor: f(r.low_freq_factor, "low_freq_factor")?,
                        high_freq_factor: f(r.high_freq_factor, "high_freq_factor")?,
                        original_max_positions: f(r.original_max_position_embeddings, "original_max_position_embeddings")?,
                    },
                    other => return Err(bad(file, None, "rope_type \"default\", \"linear\" or \"llama3\"", format!("{other:?}"))),
                }
            }
        };
        let quantization = QuantizationConfig::parse(file, self.quantization.as_ref())?;
        // Sliding-window attention (Mistral; Qwen2 with use_sliding_window) is
        // not implemented: the context is capped at the window, within which
        // it is the same as full attention.
        let mut max_positions = positive(self.max_position_embeddings, "max_position_embeddings")?;
        let windowed = self.model_type == "mistral" || self.use_sliding_window.unwrap_or(false);
        if let Some(w) = self.sliding_window.filter(|_| windowed) {
            max_positions = max_positions.min(w);
        }
        Ok(LlamaConfig {
            vocab: positive(self.vocab_size, "vocab_size")?,
            hidden,
            layers: positive(self.num_hidden_layers, "num_hidden_layers")?,
            heads,
            kv_heads,
            head_dim,
            intermediate: positive(self.intermediate_size, "intermediate_size")?,
            max_positions,
            eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            qkv_bias: self.model_type == "qwen2" || self.attention_bias.unwrap_or(false),
            mlp_bias: self.mlp_bias.unwrap_or(false),
            tie_embeddings: self.tie_word_embeddings.unwrap_or(false),
            quantization,
        })
    }
}

impl LlamaConfig {
    pub fn parse(cfg: &serde_json::Value) -> Result<LlamaConfig> {
        from_json::<LlamaConfigJson>(CONFIG_FILE, cfg)?.validate()
    }
}

/// Checkpoint names of a layer's projections, under `model.layers.{i}`.
const PROJ: [(Proj, &str); 7] = [
    (Proj::Q, "self_attn.q_proj"),
    (Proj::K, "self_attn.k_proj"),
    (Proj::V, "self_attn.v_proj"),
    (Proj::O, "self_attn.o_proj"),
    (Proj::Gate, "mlp.gate_proj"),
    (Proj::Up, "mlp.up_proj"),
    (Proj::Down, "mlp.down_proj"),
];

pub(crate) struct Layer {
    pub(crate) ln1: Tensor,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) ln2: Tensor,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    /// Checkpoint paths of the projections (what LoRA targets name).
    paths: Projections<7>,
}

impl Layer {
    /// Layer `l` (the scope `model.layers.{i}`).
    fn load(l: &Scope, c: &LlamaConfig) -> Result<Layer> {
        let (h, f) = (c.hidden, c.intermediate);
        let (qw, kvw) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let lin = |p: Proj, out, inp, bias, why: &str| l.linear(proj_name(&PROJ, p), out, inp, bias, why);
        let norm = |n: &str| l.tensor(&format!("{n}.weight"), &[h], "hidden_size");
        Ok(Layer {
            ln1: norm("input_layernorm")?,
            q: lin(Proj::Q, qw, h, c.qkv_bias, "num_attention_heads × head_dim by hidden_size")?,
            k: lin(Proj::K, kvw, h, c.qkv_bias, "num_key_value_heads × head_dim by hidden_size")?,
            v: lin(Proj::V, kvw, h, c.qkv_bias, "num_key_value_heads × head_dim by hidden_size")?,
            o: lin(Proj::O, h, qw, false, "hidden_size by num_attention_heads × head_dim")?,
            ln2: norm("post_attention_layernorm")?,
            gate: lin(Proj::Gate, f, h, c.mlp_bias, "intermediate_size × hidden_size")?,
            up: lin(Proj::Up, f, h, c.mlp_bias, "intermediate_size × hidden_size")?,
            down: lin(Proj::Down, h, f, c.mlp_bias, "hidden_size × intermediate_size")?,
            paths: Projections::new(l, &PROJ),
        })
    }

    /// The projection `p`.
    pub(crate) fn linear(&self, p: Proj) -> &Linear {
        match p {
            Proj::Q => &self.q,
            Proj::K => &self.k,
            Proj::V => &self.v,
            Proj::O => &self.o,
            Proj::Gate => &self.gate,
            Proj::Up => &self.up,
            Proj::Down => &self.down,
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
}

pub struct Llama {
    pub config: LlamaConfig,
    pub(crate) embed: Embedding,
    pub(crate) layers: Vec<Layer>,
    pub(crate) norm: Tensor,
    pub(crate) lm_head: Linear,
    pub(crate) inv_freq: Vec<f32>,
}

impl Layer {
    /// Layer `i`, pre-norm: `h1 = x + O(Attn(rope(Q·n1), rope(K·n1), V·n1))`
    /// with `n1 = rms(x)`, out `h1 + Down(silu(Gate·n2) · Up·n2)` with `n2 =
    /// rms(h1)`. The one forward of generation and training: `hooks` run the
    /// projections and the attention, and see what a backward keeps.
    pub(crate) fn forward(&self, i: usize, x: &Tensor, table: &RopeTable, c: &LlamaConfig, hooks: &mut dyn DecoderHooks) -> Result<Tensor> {
        hooks.keep(DecoderKept::Input, x);
        let n = x.rms_norm(&self.ln1, c.eps)?;
        let q = hooks.project(self, Proj::Q, &n)?.rope(table, c.heads)?;
        let k = hooks.project(self, Proj::K, &n)?.rope(table, c.kv_heads)?;
        let v = hooks.project(self, Proj::V, &n)?;
        let a = hooks.attend(i, &q, &k, &v)?;
        let h1 = x.add(&hooks.project(self, Proj::O, &a)?)?;
        hooks.keep(DecoderKept::AttentionResidual, &h1);
        let n2 = h1.rms_norm(&self.ln2, c.eps)?;
        let (g, u) = (hooks.project(self, Proj::Gate, &n2)?, hooks.project(self, Proj::Up, &n2)?);
        hooks.keep(DecoderKept::Gate, &g);
        hooks.keep(DecoderKept::Up, &u);
        h1.add(&hooks.project(self, Proj::Down, &g.silu()?.mul(&u)?)?)
    }
}

/// The activations of [`Layer::forward`] that a backward reads besides the
/// projections' inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecoderKept {
    /// The layer's input `x`.
    Input,
    /// `h1`, the second norm's input.
    AttentionResidual,
    /// The gate and up outputs (SwiGLU `silu(g) · u`).
    Gate,
    Up,
}

/// What runs around [`Layer::forward`]: each projection (plainly, or through
/// a LoRA adapter that keeps its input), causal attention of the rotated q,
/// k and v of layer `i`, and what a backward keeps.
pub(crate) trait DecoderHooks {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor>;
    fn attend(&mut self, i: usize, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor>;
    fn keep(&mut self, _what: DecoderKept, _t: &Tensor) {}
}

/// Generation: the projections as they are, attention over the KV cache.
struct Cached<'a> {
    cache: &'a mut KvCache,
    heads: usize,
    kv_heads: usize,
}

impl DecoderHooks for Cached<'_> {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor> {
        layer.linear(p).forward(x)
    }

    fn attend(&mut self, i: usize, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        self.cache.attend(i, q, k, v, self.heads, self.kv_heads)
    }
}

impl Llama {
    pub fn new(cfg: &serde_json::Value, params: &Params) -> Result<Llama> {
        let c = LlamaConfig::parse(cfg)?;
        let h = c.hidden;
        let root = Scope::new(params, c.quantization.as_ref());
        let model = root.pp("model");
        let embed = model.embedding("embed_tokens", c.vocab, h, "vocab_size × hidden_size")?;
        let layers = (0..c.layers).map(|i| Layer::load(&model.pp("layers").pp(i.to_string()), &c)).collect::<Result<Vec<_>>>()?;
        // A file may hold lm_head even when tied; without it, the embedding is the head.
        let lm_head = if root.contains("lm_head.weight") {
            root.linear("lm_head", c.vocab, h, false, "vocab_size × hidden_size")?
        } else if c.tie_embeddings {
            model.linear("embed_tokens", c.vocab, h, false, "vocab_size × hidden_size")?
        } else {
            return Err(bad("model.safetensors", Some("lm_head.weight"), "an output layer (tie_word_embeddings is false)", "no such tensor"));
        };
        let inv_freq = rope_inv_freq(c.head_dim, c.rope_theta, &c.rope_scaling);
        Ok(Llama { embed, layers, norm: model.tensor("norm.weight", &[h], "hidden_size")?, lm_head, inv_freq, config: c })
    }

    /// Layers and floats per cached position and layer (KV heads × head size).
    pub fn cache_shape(&self) -> (usize, usize) {
        (self.config.layers, self.config.kv_heads * self.config.head_dim)
    }

    /// Logits `[T, V]` of the `ids` that follow the cached positions (only
    /// the last row `[1, V]` unless `all`); the cache advances by `ids.len()`.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
        let c = &self.config;
        let device = self.norm.device();
        let t = ids.len();
        let table = RopeTable::new(&device, &self.inv_freq, cache.len(), t)?;
        let mut x = self.embed.forward(&device, ids)?;
        let mut hooks = Cached { cache: &mut *cache, heads: c.heads, kv_heads: c.kv_heads };
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(i, &x, &table, c, &mut hooks)?;
        }
        cache.advance(t);
        let x = if all { x } else { x.last_row()? };
        self.lm_head.forward(&x.rms_norm(&self.norm, c.eps)?)
    }
}
