//! A GGUF's metadata as a Hugging Face `config.json`, its tensor names as
//! Hugging Face checkpoint names, and the un-permutation of the query and key
//! rows that llama.cpp's converter permuted for its interleaved RoPE.
//!
//! Only `general.architecture = llama` (Llama, SmolLM, Mistral-style files) is
//! converted; any other architecture is an error naming it.

use super::gguf::Gguf;
use super::gguf_convert::Converted;
use super::gguf_types::Value;
use crate::error::bad;
use crate::error::Result;
use crate::quant::QuantizedMatrix;
use serde_json::{json, Map};

/// The architectures [`hf_config`] converts.
pub const ARCHITECTURES: [&str; 1] = ["llama"];

/// The attention shape of a Llama-style GGUF, read once from its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlamaShape {
    pub n_layers: usize,
    pub hidden: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Rows per head in `attn_q` / `attn_k`: `hidden / n_head` unless the file says otherwise.
    pub head_dim: usize,
}

fn key<'a>(g: &'a Gguf, k: &str) -> Result<&'a Value> {
    g.get(k).ok_or_else(|| bad(&g.file, None, format!("metadata key '{k}'"), "no such key"))
}

fn uint(g: &Gguf, k: &str) -> Result<usize> {
    let v = key(g, k)?;
    v.as_u64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| bad(&g.file, None, format!("a non-negative integer for '{k}'"), format!("{v:?}")))
}

fn opt_uint(g: &Gguf, k: &str) -> Result<Option<usize>> {
    if g.get(k).is_none() {
        return Ok(None);
    }
    uint(g, k).map(Some)
}

/// A float key as JSON: an f32 is written as its shortest decimal (1e-5, not
/// 9.999999747378752e-6), which reads back as the same f32.
fn float(g: &Gguf, k: &str, default: Option<f64>) -> Result<serde_json::Value> {
    let v = match (g.get(k), default) {
        (None, Some(d)) => return Ok(json!(d)),
        (None, None) => return Err(bad(&g.file, None, format!("metadata key '{k}'"), "no such key")),
        (Some(v), _) => v,
    };
    let x = match v {
        Value::F32(x) => format!("{x}").parse::<f64>().ok(),
        other => other.as_f64(),
    };
    match x {
        Some(x) if x.is_finite() => Ok(json!(x)),
        _ => Err(bad(&g.file, None, format!("a finite number for '{k}'"), format!("{v:?}"))),
    }
}

/// `general.architecture`, checked to be one we convert.
pub fn architecture(g: &Gguf) -> Result<&str> {
    let v = key(g, "general.architecture")?;
    let arch = v.as_str().ok_or_else(|| bad(&g.file, None, "a string for 'general.architecture'", format!("{v:?}")))?;
    if !ARCHITECTURES.contains(&arch) {
        return Err(bad(
            &g.file,
            None,
            format!("general.architecture among the ones webfm converts ({})", ARCHITECTURES.join(", ")),
            format!("architecture '{arch}'"),
        ));
    }
    Ok(arch)
}

impl LlamaShape {
    pub fn read(g: &Gguf) -> Result<LlamaShape> {
        let arch = architecture(g)?;
        let k = |s: &str| format!("{arch}.{s}");
        let (n_layers, hidden, n_head) = (uint(g, &k("block_count"))?, uint(g, &k("embedding_length"))?, uint(g, &k("attention.head_count"))?);
        let n_head_kv = opt_uint(g, &k("attention.head_count_kv"))?.unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || !n_head.is_multiple_of(n_head_kv) {
            return Err(bad(&g.file, None, "head counts > 0 with head_count a multiple of head_count_kv", format!("{n_head} heads, {n_head_kv} KV heads")));
        }
        let head_dim = match opt_uint(g, &k("attention.key_length"))? {
            Some(d) => d,
            None if hidden.is_multiple_of(n_head) => hidden / n_head,
            None => return Err(bad(&g.file, None, format!("embedding_length a multiple of head_count {n_head}"), format!("{hidden}"))),
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(bad(&g.file, None, "an even, non-zero head size (RoPE rotates pairs)", format!("head size {head_dim}")));
        }
        if let Some(rot) = opt_uint(g, &k("rope.dimension_count"))? {
            if rot != head_dim {
                return Err(bad(
                    &g.file,
                    None,
                    format!("{arch}.rope.dimension_count equal to the head size {head_dim} (partial RoPE is not Llama)"),
                    format!("{rot}"),
                ));
            }
        }
        Ok(LlamaShape { n_layers, hidden, n_head, n_head_kv, head_dim })
    }
}

/// `config.json` for the model (no `"quantization"`: the converter adds it).
pub fn hf_config(g: &Gguf) -> Result<Map<String, serde_json::Value>> {
    let s = LlamaShape::read(g)?;
    let arch = architecture(g)?;
    let k = |x: &str| format!("{arch}.{x}");
    if let Some(v) = g.get(&k("rope.scaling.type")) {
        if v.as_str() != Some("none") {
            return Err(bad(&g.file, None, format!("no RoPE scaling ({} is not converted)", k("rope.scaling.type")), format!("{v:?}")));
        }
    }
    let vocab = match opt_uint(g, &k("vocab_size"))? {
        Some(v) => v,
        None => match g.get("tokenizer.ggml.tokens").and_then(Value::as_array) {
            Some(t) => t.len(),
            None => g.require("token_embd.weight")?.shape().first().copied().unwrap_or(0),
        },
    };
    let mut c = Map::new();
    c.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    c.insert("model_type".into(), json!("llama"));
    c.insert("hidden_size".into(), json!(s.hidden));
    c.insert("intermediate_size".into(), json!(uint(g, &k("feed_forward_length"))?));
    c.insert("num_hidden_layers".into(), json!(s.n_layers));
    c.insert("num_attention_heads".into(), json!(s.n_head));
    c.insert("num_key_value_heads".into(), json!(s.n_head_kv));
    c.insert("head_dim".into(), json!(s.head_dim));
    c.insert("hidden_act".into(), json!("silu"));
    c.insert("rms_norm_eps".into(), float(g, &k("attention.layer_norm_rms_epsilon"), None)?);
    c.insert("rope_theta".into(), float(g, &k("rope.freq_base"), Some(10000.0))?);
    c.insert("max_position_embeddings".into(), json!(uint(g, &k("context_length"))?));
    c.insert("vocab_size".into(), json!(vocab));
    c.insert("tie_word_embeddings".into(), json!(g.tensor("output.weight").is_none()));
    c.insert("attention_bias".into(), json!(g.tensor("blk.0.attn_q.bias").is_some()));
    c.insert("mlp_bias".into(), json!(false));
    for (ours, theirs) in
        [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id"), ("pad_token_id", "tokenizer.ggml.padding_token_id")]
    {
        if let Some(id) = opt_uint(g, theirs)? {
            c.insert(ours.into(), json!(id));
        }
    }
    Ok(c)
}

/// The Hugging Face checkpoint name of a GGUF tensor of a Llama model with
/// `n_layers` blocks, or `None` for a tensor webfm does not map (for example
/// `rope_freqs.weight`, Llama 3.1's RoPE scaling factors).
pub fn hf_name(gguf: &str, n_layers: usize) -> Option<String> {
    let top = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some(t.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let n = layer.parse::<usize>().ok().filter(|&n| n < n_layers && layer == n.to_string())?;
    let (module, suffix) = rest.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    if hf.ends_with("layernorm") && suffix == "bias" {
        return None; // RMS norms have no bias
    }
    Some(format!("model.layers.{n}.{hf}.{suffix}"))
}

/// The GGUF row that holds row `r` of the Hugging Face Q or K projection.
///
/// llama.cpp's converter reorders each head's `head_dim` rows from the
/// half-split order (`x[i]` pairs with `x[i + head_dim/2]`) to the interleaved
/// one (`x[2i]` pairs with `x[2i + 1]`): within a head, HF row `j·head_dim/2 + i`
/// (j ∈ {0, 1}) is GGUF row `2i + j`.
pub fn gguf_row_of(r: usize, head_dim: usize) -> usize {
    let (h, k) = (r / head_dim, r % head_dim);
    let half = head_dim / 2;
    let (j, i) = (k / half, k % half);
    h * head_dim + 2 * i + j
}

/// Un-permutes the rows of a converted `attn_q` / `attn_k` weight or bias
/// (`n_heads` heads of `head_dim` rows): whole rows move, so a quantized
/// row keeps its codes, scales and biases and nothing is rounded.
pub fn unpermute_rows(file: &str, name: &str, c: Converted, n_heads: usize, head_dim: usize) -> Result<Converted> {
    let rows = c.shape().first().copied().unwrap_or(0);
    if rows != n_heads * head_dim {
        return Err(bad(file, Some(name), format!("{} rows ({n_heads} heads × {head_dim})", n_heads * head_dim), format!("shape {:?}", c.shape())));
    }
    let src = |r: usize| gguf_row_of(r, head_dim);
    Ok(match c {
        Converted::Float { shape, source, data } => {
            let cols = data.len() / rows;
            let data = (0..rows).flat_map(|r| data[src(r) * cols..(src(r) + 1) * cols].iter().copied()).collect();
            Converted::Float { shape, source, data }
        }
        Converted::Quantized { shape, source, matrix: m } => {
            let (w, g) = (m.words_per_row(), m.groups_per_row());
            let take = |v: &[f32]| -> Vec<f32> { (0..rows).flat_map(|r| v[src(r) * g..(src(r) + 1) * g].iter().copied()).collect() };
            let packed = (0..rows).flat_map(|r| m.packed[src(r) * w..(src(r) + 1) * w].iter().copied()).collect();
            let matrix = QuantizedMatrix::from_parts(m.rows, m.cols, m.bits, m.group, packed, take(&m.scales), take(&m.biases))?;
            Converted::Quantized { shape, source, matrix }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hugging_face() {
        assert_eq!(hf_name("blk.3.attn_q.weight", 30).as_deref(), Some("model.layers.3.self_attn.q_proj.weight"));
        assert_eq!(hf_name("blk.29.ffn_down.weight", 30).as_deref(), Some("model.layers.29.mlp.down_proj.weight"));
        assert_eq!(hf_name("blk.0.ffn_norm.weight", 1).as_deref(), Some("model.layers.0.post_attention_layernorm.weight"));
        assert_eq!(hf_name("token_embd.weight", 1).as_deref(), Some("model.embed_tokens.weight"));
        for unmapped in
            ["blk.30.attn_q.weight", "blk.01.attn_q.weight", "rope_freqs.weight", "blk.0.attn_norm.bias", "blk.x.attn_q.weight", "blk.0.attn_q.scale"]
        {
            assert_eq!(hf_name(unmapped, 30), None, "{unmapped}");
        }
    }

    #[test]
    fn row_permutation_matches_llama_cpp() {
        // head_dim 8: HF rows 0..4 pair with 4..8; GGUF interleaves them 0,4,1,5,2,6,3,7.
        let gguf_order: Vec<usize> = (0..8).map(|r| gguf_row_of(r, 8)).collect();
        assert_eq!(gguf_order, [0, 2, 4, 6, 1, 3, 5, 7]);
        assert_eq!(gguf_row_of(8 + 5, 8), 8 + 3);
    }
}
