//! GPT-2: learned positions, pre-norm layers with layer norm,
//! `x += c_proj(Attn(c_attn(ln_1(x))))`, `x += mlp.c_proj(gelu_tanh(c_fc(ln_2(x))))`,
//! `Conv1D` weights stored `[in, out]`, the output layer tied to `wte`.

use super::decoder::Net;
use super::params::Params;
use crate::error::bad;
use crate::error::Result;
use crate::nn::{Embedding, LayerNorm, Linear, Quantization};
use crate::ops_decoder::KvCache;
use crate::tensor::Tensor;

#[derive(Clone, Debug)]
pub struct Gpt2Config {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub inner: usize,
    pub max_positions: usize,
    pub eps: f32,
}

impl Gpt2Config {
    pub fn parse(cfg: &serde_json::Value) -> Result<Gpt2Config> {
        let file = "config.json";
        let num = |k: &str| super::config_usize(cfg, &[k]);
        let (hidden, heads) = (num("n_embd")?, num("n_head")?);
        if hidden % heads != 0 {
            return Err(bad(file, None, format!("n_embd divisible by the {heads} heads"), hidden.to_string()));
        }
        let act = cfg.get("activation_function").and_then(|v| v.as_str()).unwrap_or("gelu_new");
        if !matches!(act, "gelu_new" | "gelu_pytorch_tanh") {
            return Err(bad(file, None, "\"activation_function\": \"gelu_new\"", format!("{act:?}")));
        }
        for flag in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] {
            if cfg.get(flag).and_then(|v| v.as_bool()) == Some(true) {
                return Err(bad(file, None, format!("\"{flag}\": false"), "true"));
            }
        }
        Quantization::from_config(file, cfg)?;
        Ok(Gpt2Config {
            vocab: num("vocab_size")?,
            hidden,
            layers: num("n_layer")?,
            heads,
            inner: cfg.get("n_inner").and_then(|v| v.as_u64()).map_or(4 * hidden, |v| v as usize),
            max_positions: num("n_positions")?,
            eps: cfg.get("layer_norm_epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-5) as f32,
        })
    }
}

struct Block {
    ln1: LayerNorm,
    attn: Linear,
    proj: Linear,
    ln2: LayerNorm,
    fc: Linear,
    out: Linear,
}

pub struct Gpt2 {
    pub config: Gpt2Config,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
}

impl Gpt2 {
    pub fn new(cfg: &serde_json::Value, params: &Params) -> Result<Gpt2> {
        let c = Gpt2Config::parse(cfg)?;
        let h = c.hidden;
        let pre = if params.contains("transformer.wte.weight") { "transformer." } else { "" };
        let ln = |name: String| LayerNorm::load(params, &name, h, c.eps, "n_embd");
        let q = |name: &str| Quantization::for_module(cfg, params, name);
        let wte = Embedding::load(params, &format!("{pre}wte"), c.vocab, h, q(&format!("{pre}wte")), "vocab_size × n_embd")?;
        let wpe = Embedding::load(params, &format!("{pre}wpe"), c.max_positions, h, None, "n_positions × n_embd")?;
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let b = format!("{pre}h.{i}");
            blocks.push(Block {
                ln1: ln(format!("{b}.ln_1"))?,
                attn: Linear::load_conv1d(params, &format!("{b}.attn.c_attn"), h, 3 * h, "n_embd × 3·n_embd")?,
                proj: Linear::load_conv1d(params, &format!("{b}.attn.c_proj"), h, h, "n_embd × n_embd")?,
                ln2: ln(format!("{b}.ln_2"))?,
                fc: Linear::load_conv1d(params, &format!("{b}.mlp.c_fc"), h, c.inner, "n_embd × n_inner")?,
                out: Linear::load_conv1d(params, &format!("{b}.mlp.c_proj"), c.inner, h, "n_inner × n_embd")?,
            });
        }
        let head = if params.contains("lm_head.weight") { "lm_head".to_string() } else { format!("{pre}wte") };
        let lm_head = Linear::load(params, &head, c.vocab, h, false, q(&head), "vocab_size × n_embd")?;
        Ok(Gpt2 { wte, wpe, blocks, ln_f: ln(format!("{pre}ln_f"))?, lm_head, config: c })
    }
}

impl Net for Gpt2 {
    fn cache_shape(&self) -> (usize, usize) {
        (self.config.layers, self.config.hidden)
    }

    fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
        let c = &self.config;
        let device = self.ln_f.device();
        let p0 = cache.len();
        let positions: Vec<u32> = (p0..p0 + ids.len()).map(|p| p as u32).collect();
        let mut x = self.wte.forward(&device, ids)?.add(&self.wpe.forward(&device, &positions)?)?;
        let h = c.hidden;
        for (i, b) in self.blocks.iter().enumerate() {
            let qkv = b.attn.forward(&b.ln1.forward(&x)?)?;
            let (q, k, v) = (qkv.narrow_last(0, h)?, qkv.narrow_last(h, h)?, qkv.narrow_last(2 * h, h)?);
            let a = cache.attend(i, &q, &k, &v, c.heads, c.heads)?;
            x = x.add(&b.proj.forward(&a)?)?;
            x = x.add(&b.out.forward(&b.fc.forward(&b.ln2.forward(&x)?)?.gelu_tanh()?)?)?;
        }
        cache.advance(ids.len());
        let x = if all { x } else { x.last_row()? };
        self.lm_head.forward(&self.ln_f.forward(&x)?)
    }
}
