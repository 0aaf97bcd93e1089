//! `webfm convert`: a GGUF file (this file) or a Hugging Face folder
//! (`tasks/convert.rs`) becomes a folder that `Model.load` takes: `config.json`,
//! `tokenizer.json` (+ `tokenizer_config.json`) and one `model.safetensors`
//! with quantized weights in the affine layout (see `docs/FORMAT.md`).

use super::gguf::Gguf;
use super::gguf_config::{hf_config, hf_name, unpermute_rows, LlamaShape};
use super::gguf_convert::{convert_tensor, Converted};
use super::gguf_tokenizer::hf_tokenizer;
use super::gguf_types::GgmlType;
use super::quantized::affine_tensors;
use super::safetensors::Dtype;
use super::safetensors_write::{bf16_bytes, f16_bytes, f32_bytes};
use crate::error::bad;
use crate::error::{Error, Result};
use crate::quant::affine::{check_params, BITS, GROUPS};
use crate::quant::{dequantize, quantize_with, QuantizedMatrix, ScaleDType};
use serde_json::{json, Map};
use std::collections::BTreeMap;

/// `--bits` and `--group`; `None` keeps what the source has (or the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub bits: Option<u32>,
    pub group: Option<usize>,
}

impl Options {
    pub fn check(&self) -> Result<()> {
        if let Some(b) = self.bits.filter(|b| !BITS.contains(b)) {
            return Err(Error::InvalidArgument(format!("--bits must be 4 or 8, got {b}")));
        }
        if let Some(g) = self.group.filter(|g| !GROUPS.contains(g)) {
            return Err(Error::InvalidArgument(format!("--group must be 32, 64 or 128, got {g}")));
        }
        Ok(())
    }
}

/// One tensor of the output `model.safetensors`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// A converted model, held in memory until [`Folder::write`] (native) puts it on disk.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    /// `config.json` without `"quantization"` ([`Folder::config_json`] adds it).
    pub config: Map<String, serde_json::Value>,
    /// Other files by relative path: `tokenizer.json`, `tokenizer_config.json`, copies.
    pub files: Vec<(String, Vec<u8>)>,
    /// `model.safetensors`, in this order.
    pub tensors: Vec<OutTensor>,
    /// Quantized modules: (checkpoint path `P` without `.weight`, bits, group).
    pub quantized: Vec<(String, u32, usize)>,
    /// What a user should know (tensors kept as float and why).
    pub notes: Vec<String>,
}

impl Folder {
    /// Adds a float tensor stored as `dtype` (F32, F16 or BF16: the values are
    /// exact in it when they came from that type).
    pub(crate) fn push_float(&mut self, name: &str, shape: Vec<usize>, data: &[f32], dtype: Dtype) {
        let (dtype, bytes) = match dtype {
            Dtype::F16 => (dtype, f16_bytes(data)),
            Dtype::BF16 => (dtype, bf16_bytes(data)),
            _ => (Dtype::F32, f32_bytes(data)),
        };
        self.tensors.push(OutTensor { name: name.to_string(), dtype, shape, bytes });
    }

    /// Adds `P.weight`, `P.scales`, `P.biases` for `weight_name = P.weight`;
    /// scales and biases are F16 when every one of them is exact in F16, else F32.
    pub(crate) fn push_quantized(&mut self, weight_name: &str, m: &QuantizedMatrix) {
        let prefix = weight_name.strip_suffix(".weight").unwrap_or(weight_name);
        let t = if m.scales_fit(ScaleDType::F16) { ScaleDType::F16 } else { ScaleDType::F32 };
        for (name, dtype, shape, bytes) in affine_tensors(prefix, m, t) {
            self.tensors.push(OutTensor { name, dtype, shape, bytes });
        }
        self.quantized.push((prefix.to_string(), m.bits, m.group));
    }

    /// `config.json`: the model's config plus `"quantization"` when any module is
    /// quantized: the most common `{"group_size", "bits"}` at the top, and an
    /// entry `P: {"group_size", "bits"}` for each module quantized otherwise.
    pub fn config_json(&self) -> serde_json::Value {
        let mut c = self.config.clone();
        let mut counts: BTreeMap<(u32, usize), usize> = BTreeMap::new();
        for (_, b, g) in &self.quantized {
            *counts.entry((*b, *g)).or_default() += 1;
        }
        // Most modules first; ties go to the fewest bits, then the smallest group.
        if let Some((&(bits, group), _)) = counts.iter().max_by_key(|(&(b, g), &n)| (n, std::cmp::Reverse((b, g)))) {
            let mut q = Map::new();
            q.insert("group_size".into(), json!(group));
            q.insert("bits".into(), json!(bits));
            for (p, b, g) in &self.quantized {
                if (*b, *g) != (bits, group) {
                    q.insert(p.clone(), json!({"group_size": g, "bits": b}));
                }
            }
            c.insert("quantization".into(), serde_json::Value::Object(q));
        }
        serde_json::Value::Object(c)
    }
}

/// The bits and group of module `prefix` (checkpoint path without `.weight`)
/// under a `config.json`'s `"quantization"`: its own entry if it has one,
/// else the top-level pair. `None` when the config has no quantization.
pub fn module_quantization(config: &serde_json::Value, prefix: &str) -> Option<(u32, usize)> {
    let q = config.get("quantization")?;
    let pair = |v: &serde_json::Value| Some((u32::try_from(v.get("bits")?.as_u64()?).ok()?, usize::try_from(v.get("group_size")?.as_u64()?).ok()?));
    match q.get(prefix) {
        Some(own) => pair(own),
        None => pair(q),
    }
}

/// Name parts of 2-D weights that stay float: norms, and the position and
/// token-type tables, which are added to activations, not multiplied. GPT-2's
/// `Conv1D` weights (`c_attn`, `c_proj`, `c_fc`) are stored `[in, out]`:
/// groups of a row would mix output features, so they stay float too.
const KEEP_FLOAT: [&str; 9] = ["norm", "position_embeddings", "token_type_embeddings", "embed_positions", "wpe.", "rotary", "c_attn.", "c_proj.", "c_fc."];

/// Whether a float tensor is a linear or embedding weight that gets quantized.
pub fn quantizable(name: &str, shape: &[usize]) -> bool {
    let lower = name.to_ascii_lowercase();
    shape.len() == 2 && shape.iter().all(|&d| d > 0) && name.ends_with(".weight") && !KEEP_FLOAT.iter().any(|k| lower.contains(k))
}

/// Quantizes a float `[rows, cols]` weight with F16 scales (F32 when a
/// group's range does not fit F16); an error names the file and tensor.
pub fn quantize_weight(file: &str, name: &str, w: &[f32], rows: usize, cols: usize, bits: u32, group: usize) -> Result<QuantizedMatrix> {
    quantize_with(w, rows, cols, bits, group, ScaleDType::F16)
        .or_else(|_| quantize_with(w, rows, cols, bits, group, ScaleDType::F32))
        .map_err(|e| bad(file, Some(name), format!("a weight that {bits}-bit, group-{group} quantization takes"), e.to_string()))
}

/// Converts a whole GGUF file held in `bytes` (see `docs/FORMAT.md`, "webfm convert").
///
/// Without `--bits`/`--group` every tensor keeps the file's own encoding:
/// Q4_0/Q4_1 become 4-bit and Q8_0 8-bit affine groups of 32, losslessly;
/// float tensors stay float (1-D ones as F32, others in their own type). With
/// either option, quantized tensors whose (bits, group) differ from the asked
/// ones (the other one defaulting to the tensor's own) are dequantized and
/// quantized again, and 2-D float weights are quantized too (4 bits, group 32
/// unless asked otherwise); a weight whose columns do not split into the asked
/// groups keeps its own encoding (noted).
/// The query and key rows are un-permuted to Hugging Face's order.
pub fn from_gguf(g: &Gguf, bytes: &[u8], opt: Options) -> Result<Folder> {
    opt.check()?;
    let file = g.file.as_str();
    let shape = LlamaShape::read(g)?;
    let mut out = Folder { config: hf_config(g)?, ..Folder::default() };
    let (tokenizer, tokenizer_config) = hf_tokenizer(g)?;
    for (name, v) in [("tokenizer.json", tokenizer), ("tokenizer_config.json", tokenizer_config)] {
        let text = serde_json::to_vec_pretty(&v).map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
        out.files.push((name.to_string(), text));
    }
    let requantize = opt.bits.is_some() || opt.group.is_some();
    for t in &g.tensors {
        let hf = hf_name(&t.name, shape.n_layers).ok_or_else(|| {
            bad(file, Some(&t.name), "a tensor of a Llama model (token_embd, output_norm, output, blk.N.attn_norm/attn_q/attn_k/attn_v/attn_output/ffn_norm/ffn_gate/ffn_up/ffn_down)", "a name webfm does not map")
        })?;
        let mut c = convert_tensor(file, t, g.tensor_bytes(bytes, t)?)?;
        if t.name.contains(".attn_q.") {
            c = unpermute_rows(file, &t.name, c, shape.n_head, shape.head_dim)?;
        } else if t.name.contains(".attn_k.") {
            c = unpermute_rows(file, &t.name, c, shape.n_head_kv, shape.head_dim)?;
        }
        let dims = c.shape().to_vec();
        match c {
            Converted::Quantized { matrix: m, .. } if dims.len() == 2 => {
                let (bits, group) = (opt.bits.unwrap_or(m.bits), opt.group.unwrap_or(m.group));
                if (bits, group) == (m.bits, m.group) {
                    out.push_quantized(&hf, &m);
                } else if check_params(m.rows, m.cols, bits, group).is_err() {
                    out.notes.push(format!("{}: kept as {} ({} columns are not a multiple of the group size {group})", t.name, t.ty, m.cols));
                    out.push_quantized(&hf, &m);
                } else {
                    let q = quantize_weight(file, &t.name, &dequantize(&m), m.rows, m.cols, bits, group)?;
                    out.push_quantized(&hf, &q);
                }
            }
            // A quantized vector (never in llama.cpp's Llama files) is written as exact f32.
            Converted::Quantized { matrix: m, .. } => out.push_float(&hf, dims, &dequantize(&m), Dtype::F32),
            Converted::Float { data, source, .. } => {
                let (rows, cols) = (dims.first().copied().unwrap_or(0), dims.get(1).copied().unwrap_or(0));
                let (bits, group) = (opt.bits.unwrap_or(4), opt.group.unwrap_or(32));
                let fits = check_params(rows, cols, bits, group).is_ok();
                if requantize && dims.len() == 2 && !hf.contains("norm") && !fits {
                    out.notes.push(format!("{}: kept as {} ({cols} columns are not a multiple of the group size {group})", t.name, t.ty));
                }
                if requantize && dims.len() == 2 && !hf.contains("norm") && fits {
                    let q = quantize_weight(file, &t.name, &data, rows, cols, bits, group)?;
                    out.push_quantized(&hf, &q);
                } else {
                    let dtype = match source {
                        GgmlType::F16 if dims.len() > 1 => Dtype::F16,
                        GgmlType::BF16 if dims.len() > 1 => Dtype::BF16,
                        _ => Dtype::F32,
                    };
                    out.push_float(&hf, dims, &data, dtype);
                }
            }
        }
    }
    Ok(out)
}
