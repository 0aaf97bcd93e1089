//! Llama-family decoders: Llama (2, 3 with `rope_scaling` "llama3"),
//! SmolLM/SmolLM2, Mistral and Qwen2 (q/k/v biases). Pre-norm layers:
//! `x += o(Attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x))))`, then
//! `x += down(silu(gate(n2(x))) · up(n2(x)))`, RMS norms, grouped-query
//! attention over a KV cache, tied or separate output embeddings.
//!
//! Legend: `T` new tokens, `H` hidden size, `V` vocabulary.

use super::config_usize;
use super::decoder::Net;
use super::params::Params;
use crate::error::bad;
use crate::error::Result;
use crate::nn::{Embedding, Linear, Quantization};
use crate::ops_decoder::{rope_inv_freq, KvCache, RopeScaling, RopeTable};
use crate::tensor::Tensor;

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
}

fn float(v: Option<&serde_json::Value>) -> Option<f32> {
    v.and_then(serde_json::Value::as_f64).map(|f| f as f32)
}

impl LlamaConfig {
    pub fn parse(cfg: &serde_json::Value) -> Result<LlamaConfig> {
        let file = "config.json";
        let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        let (hidden, heads) = (config_usize(cfg, &["hidden_size"])?, config_usize(cfg, &["num_attention_heads"])?);
        let kv_heads = cfg.get("num_key_value_heads").and_then(|v| v.as_u64()).map_or(heads, |v| v as usize);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(bad(file, None, format!("num_key_value_heads dividing the {heads} attention heads"), kv_heads.to_string()));
        }
        let head_dim = cfg.get("head_dim").and_then(|v| v.as_u64()).map_or(hidden / heads, |v| v as usize);
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(bad(file, None, "an even head size (head_dim, or hidden_size / num_attention_heads)", head_dim.to_string()));
        }
        let act = cfg.get("hidden_act").and_then(|v| v.as_str()).unwrap_or("silu");
        if act != "silu" {
            return Err(bad(file, None, "\"hidden_act\": \"silu\" (SwiGLU)", format!("{act:?}")));
        }
        // transformers 5 writes "rope_parameters" (with rope_theta inside);
        // older files "rope_theta" and "rope_scaling" at the top level.
        let rope = cfg.get("rope_parameters").or_else(|| cfg.get("rope_scaling")).filter(|v| v.is_object());
        let rope_theta = float(cfg.get("rope_theta")).or_else(|| float(rope.and_then(|r| r.get("rope_theta")))).unwrap_or(10000.0);
        let rope_scaling = match rope {
            None => RopeScaling::None,
            Some(r) => {
                let kind = r.get("rope_type").or_else(|| r.get("type")).and_then(|v| v.as_str()).unwrap_or("default");
                let f = |k: &str| float(r.get(k)).ok_or_else(|| bad(file, None, format!("rope scaling \"{k}\" for rope_type {kind:?}"), "none"));
                match kind {
                    "default" => RopeScaling::None,
                    "linear" => RopeScaling::Linear { factor: f("factor")? },
                    "llama3" => RopeScaling::Llama3 {
                        factor: f("factor")?,
                        low_freq_factor: f("low_freq_factor")?,
                        high_freq_factor: f("high_freq_factor")?,
                        original_max_positions: f("original_max_position_embeddings")?,
                    },
                    other => return Err(bad(file, None, "rope_type \"default\", \"linear\" or \"llama3\"", format!("{other:?}"))),
                }
            }
        };
        Quantization::from_config(file, cfg)?;
        let flag = |k: &str, default: bool| cfg.get(k).and_then(|v| v.as_bool()).unwrap_or(default);
        // Sliding-window attention (Mistral; Qwen2 with use_sliding_window) is
        // not implemented: the context is capped at the window, within which
        // it is the same as full attention.
        let mut max_positions = config_usize(cfg, &["max_position_embeddings"])?;
        let windowed = model_type == "mistral" || flag("use_sliding_window", false);
        if let Some(w) = cfg.get("sliding_window").and_then(|v| v.as_u64()).filter(|_| windowed) {
            max_positions = max_positions.min(w as usize);
        }
        Ok(LlamaConfig {
            vocab: config_usize(cfg, &["vocab_size"])?,
            hidden,
            layers: config_usize(cfg, &["num_hidden_layers"])?,
            heads,
            kv_heads,
            head_dim,
            intermediate: config_usize(cfg, &["intermediate_size"])?,
            max_positions,
            eps: float(cfg.get("rms_norm_eps")).unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            qkv_bias: model_type == "qwen2" || flag("attention_bias", false),
            mlp_bias: flag("mlp_bias", false),
            tie_embeddings: flag("tie_word_embeddings", false),
        })
    }
}

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
    /// Checkpoint paths of q, k, v, o, gate, up, down (what LoRA targets name).
    pub(crate) paths: [String; 7],
}

impl Layer {
    /// q, k, v, o, gate, up, down, in the order of `paths`.
    pub(crate) fn linears(&self) -> [&Linear; 7] {
        [&self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down]
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

impl Llama {
    pub fn new(cfg: &serde_json::Value, params: &Params) -> Result<Llama> {
        let c = LlamaConfig::parse(cfg)?;
        let h = c.hidden;
        let (qw, kvw) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let q = |name: &str| Quantization::for_module(cfg, params, name);
        let lin = |name: String, out, inp, bias, why: &str| Linear::load(params, &name, out, inp, bias, q(&name), why);
        let norm = |name: String| params.float(&format!("{name}.weight"), &[h], "hidden_size");
        let embed = Embedding::load(params, "model.embed_tokens", c.vocab, h, q("model.embed_tokens"), "vocab_size × hidden_size")?;
        let mut layers = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let l = format!("model.layers.{i}");
            let paths = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
                .map(|n| format!("{l}.{n}"));
            layers.push(Layer {
                paths,
                ln1: norm(format!("{l}.input_layernorm"))?,
                q: lin(format!("{l}.self_attn.q_proj"), qw, h, c.qkv_bias, "num_attention_heads × head_dim by hidden_size")?,
                k: lin(format!("{l}.self_attn.k_proj"), kvw, h, c.qkv_bias, "num_key_value_heads × head_dim by hidden_size")?,
                v: lin(format!("{l}.self_attn.v_proj"), kvw, h, c.qkv_bias, "num_key_value_heads × head_dim by hidden_size")?,
                o: lin(format!("{l}.self_attn.o_proj"), h, qw, false, "hidden_size by num_attention_heads × head_dim")?,
                ln2: norm(format!("{l}.post_attention_layernorm"))?,
                gate: lin(format!("{l}.mlp.gate_proj"), c.intermediate, h, c.mlp_bias, "intermediate_size × hidden_size")?,
                up: lin(format!("{l}.mlp.up_proj"), c.intermediate, h, c.mlp_bias, "intermediate_size × hidden_size")?,
                down: lin(format!("{l}.mlp.down_proj"), h, c.intermediate, c.mlp_bias, "hidden_size × intermediate_size")?,
            });
        }
        // A file may hold lm_head even when tied; without it, the embedding is the head.
        let head_name = if params.contains("lm_head.weight") { "lm_head" } else { "model.embed_tokens" };
        if head_name == "model.embed_tokens" && !c.tie_embeddings {
            return Err(bad("model.safetensors", Some("lm_head.weight"), "an output layer (tie_word_embeddings is false)", "no such tensor"));
        }
        let lm_head = lin(head_name.to_string(), c.vocab, h, false, "vocab_size × hidden_size")?;
        let inv_freq = rope_inv_freq(c.head_dim, c.rope_theta, &c.rope_scaling);
        Ok(Llama { embed, layers, norm: norm("model.norm".into())?, lm_head, inv_freq, config: c })
    }
}

impl Net for Llama {
    fn llama(&self) -> Option<&Llama> {
        Some(self)
    }

    fn cache_shape(&self) -> (usize, usize) {
        (self.config.layers, self.config.kv_heads * self.config.head_dim)
    }

    fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
        let c = &self.config;
        let device = self.norm.device();
        let t = ids.len();
        let table = RopeTable::new(&device, &self.inv_freq, cache.len(), t)?;
        let mut x = self.embed.forward(&device, ids)?;
        for (i, l) in self.layers.iter().enumerate() {
            let n = x.rms_norm(&l.ln1, c.eps)?;
            let q = l.q.forward(&n)?.rope(&table, c.heads)?;
            let k = l.k.forward(&n)?.rope(&table, c.kv_heads)?;
            let v = l.v.forward(&n)?;
            let a = cache.attend(i, &q, &k, &v, c.heads, c.kv_heads)?;
            x = x.add(&l.o.forward(&a)?)?;
            let n = x.rms_norm(&l.ln2, c.eps)?;
            x = x.add(&l.down.forward(&l.gate.forward(&n)?.silu()?.mul(&l.up.forward(&n)?)?)?)?;
        }
        cache.advance(t);
        let x = if all { x } else { x.last_row()? };
        self.lm_head.forward(&x.rms_norm(&self.norm, c.eps)?)
    }
}
