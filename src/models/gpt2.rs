//! GPT-2: learned positions, pre-norm layers with layer norm,
//! `x += c_proj(Attn(c_attn(ln_1(x))))`, `x += mlp.c_proj(gelu_tanh(c_fc(ln_2(x))))`,
//! `Conv1D` weights stored `[in, out]`, the output layer tied to `wte`.

use serde::Deserialize;

use super::config::{from_json, lenient, positive, QuantizationConfig, CONFIG_FILE};
use super::params::{Params, Scope};
use crate::error::bad;
use crate::error::Result;
use crate::nn::{Embedding, LayerNorm, Linear};
use crate::ops::decoder::KvCache;
use crate::ops::tensor::Tensor;

/// `config.json` of a GPT-2 model, by its own names (the common names in the aliases).
#[derive(Clone, Debug, Deserialize)]
pub struct Gpt2ConfigJson {
    #[serde(default, deserialize_with = "lenient")]
    pub vocab_size: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "hidden_size")]
    pub n_embd: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "num_hidden_layers")]
    pub n_layer: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "num_attention_heads")]
    pub n_head: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub n_inner: Option<usize>,
    #[serde(default, deserialize_with = "lenient", alias = "max_position_embeddings")]
    pub n_positions: Option<usize>,
    #[serde(default, deserialize_with = "lenient")]
    pub layer_norm_epsilon: Option<f32>,
    #[serde(default, deserialize_with = "lenient")]
    pub activation_function: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub scale_attn_by_inverse_layer_idx: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub reorder_and_upcast_attn: Option<bool>,
    #[serde(default)]
    pub quantization: Option<serde_json::Value>,
}

/// What the model uses.
#[derive(Clone, Debug)]
pub struct Gpt2Config {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub inner: usize,
    pub max_positions: usize,
    pub eps: f32,
    pub quantization: Option<QuantizationConfig>,
}

impl Gpt2ConfigJson {
    /// Checks the fields (each error names the field, the expected and the found).
    pub fn validate(&self) -> Result<Gpt2Config> {
        let file = CONFIG_FILE;
        let (hidden, heads) = (positive(self.n_embd, "n_embd")?, positive(self.n_head, "n_head")?);
        // c_attn is 3 × n_embd wide and n_inner defaults to 4 × n_embd.
        if hidden.checked_mul(4).is_none() {
            return Err(bad(file, None, "an n_embd whose 4 × n_embd fits in usize", hidden.to_string()));
        }
        if hidden % heads != 0 {
            return Err(bad(file, None, format!("n_embd divisible by the {heads} heads"), hidden.to_string()));
        }
        let act = self.activation_function.as_deref().unwrap_or("gelu_new");
        if !matches!(act, "gelu_new" | "gelu_pytorch_tanh") {
            return Err(bad(file, None, "\"activation_function\": \"gelu_new\"", format!("{act:?}")));
        }
        for (flag, on) in [("scale_attn_by_inverse_layer_idx", self.scale_attn_by_inverse_layer_idx), ("reorder_and_upcast_attn", self.reorder_and_upcast_attn)]
        {
            if on == Some(true) {
                return Err(bad(file, None, format!("\"{flag}\": false"), "true"));
            }
        }
        let quantization = QuantizationConfig::parse(file, self.quantization.as_ref())?;
        Ok(Gpt2Config {
            vocab: positive(self.vocab_size, "vocab_size")?,
            hidden,
            layers: positive(self.n_layer, "n_layer")?,
            heads,
            inner: self.n_inner.unwrap_or(4 * hidden), // checked above
            max_positions: positive(self.n_positions, "n_positions")?,
            eps: self.layer_norm_epsilon.unwrap_or(1e-5),
            quantization,
        })
    }
}

impl Gpt2Config {
    pub fn parse(cfg: &serde_json::Value) -> Result<Gpt2Config> {
        from_json::<Gpt2ConfigJson>(CONFIG_FILE, cfg)?.validate()
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

impl Block {
    /// Block `b` (the scope `h.{i}`).
    fn load(b: &Scope, c: &Gpt2Config) -> Result<Block> {
        let h = c.hidden;
        Ok(Block {
            ln1: b.layer_norm("ln_1", h, c.eps, "n_embd")?,
            attn: b.conv1d("attn.c_attn", h, 3 * h, "n_embd × 3·n_embd")?,
            proj: b.conv1d("attn.c_proj", h, h, "n_embd × n_embd")?,
            ln2: b.layer_norm("ln_2", h, c.eps, "n_embd")?,
            fc: b.conv1d("mlp.c_fc", h, c.inner, "n_embd × n_inner")?,
            out: b.conv1d("mlp.c_proj", c.inner, h, "n_inner × n_embd")?,
        })
    }
}

impl Gpt2 {
    pub fn new(cfg: &serde_json::Value, params: &Params) -> Result<Gpt2> {
        let c = Gpt2Config::parse(cfg)?;
        let h = c.hidden;
        let root = Scope::new(params, c.quantization.as_ref());
        let t = root.pp(if root.contains("transformer.wte.weight") { "transformer" } else { "" });
        let wte = t.embedding("wte", c.vocab, h, "vocab_size × n_embd")?;
        let wpe = t.float_embedding("wpe", c.max_positions, h, "n_positions × n_embd")?;
        let blocks = (0..c.layers).map(|i| Block::load(&t.pp("h").pp(i.to_string()), &c)).collect::<Result<Vec<_>>>()?;
        // Tied to `wte` unless the file holds its own output layer.
        let lm_head = if root.contains("lm_head.weight") {
            root.linear("lm_head", c.vocab, h, false, "vocab_size × n_embd")?
        } else {
            t.linear("wte", c.vocab, h, false, "vocab_size × n_embd")?
        };
        Ok(Gpt2 { wte, wpe, blocks, ln_f: t.layer_norm("ln_f", h, c.eps, "n_embd")?, lm_head, config: c })
    }

    /// Layers and floats per cached position and layer (heads × head size).
    pub fn cache_shape(&self) -> (usize, usize) {
        (self.config.layers, self.config.hidden)
    }

    /// Logits `[T, V]` of the `ids` that follow the cached positions (only
    /// the last row `[1, V]` unless `all`); the cache advances by `ids.len()`.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
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
