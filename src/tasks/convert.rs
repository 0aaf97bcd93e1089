//! `webfm convert` from a Hugging Face folder (`config.json` and
//! `model.safetensors` or shards with an index; f32/f16/bf16), and writing a
//! converted folder to disk atomically. Native only.

use crate::error::bad;
use crate::error::{Error, Result};
use crate::models::bert::{Bert, EncodeOptions};
use crate::models::files::load_dir;
use crate::ops::tensor::Device;
use crate::quant::gptq::{quantize_gptq, Factor, Hessian};
use crate::weights::convert::{quantizable, quantize_weight, Folder, Options};
use crate::weights::read_file;
use crate::weights::safetensors::{Dtype, SafeTensors, TensorView};
use crate::weights::safetensors_write::{serialize, Entry};
use crate::weights::shards::{ShardIndex, INDEX_FILE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Bits and group when a Hugging Face folder is converted without options
/// (MLX's defaults).
pub const DEFAULT_BITS: u32 = 4;
pub const DEFAULT_GROUP: usize = 64;

/// Files copied as they are from a Hugging Face folder when present: the
/// tokenizer's, the generation defaults, and sentence-transformers' pooling.
pub const COPIED: [&str; 12] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
];

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io { file: path.display().to_string(), message: e.to_string() }
}

/// Every weights file of the folder: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (each checked against the index).
fn weight_files(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![(single.clone(), read_file(&single)?)]);
    }
    let index_path = dir.join(INDEX_FILE);
    if !index_path.is_file() {
        let d = dir.display().to_string();
        return Err(bad(&d, None, format!("model.safetensors or {INDEX_FILE} in the folder"), "neither"));
    }
    let index = ShardIndex::parse(&index_path.display().to_string(), &read_file(&index_path)?)?;
    index
        .shards()
        .into_iter()
        .map(|s| {
            let p = dir.join(s);
            let bytes = read_file(&p)?;
            index.check_shard(s, &SafeTensors::parse(&p.display().to_string(), &bytes)?.header)?;
            Ok((p, bytes))
        })
        .collect()
}

/// Converts a Hugging Face folder: 2-D linear and embedding weights (see
/// [`quantizable`]) are quantized with `--bits`/`--group` (default 4 and 64);
/// a weight whose columns do not split into whole groups stays float (noted);
/// 1-D float tensors are written as F32, other float tensors in their own
/// type, and anything else (int buffers) byte for byte.
pub fn from_hf_dir(dir: &Path, opt: Options) -> Result<Folder> {
    from_hf_dir_with(dir, opt, &Recipe::default())
}

/// How [`from_hf_dir_with`] quantizes besides `--bits`/`--group`. Both are
/// for BERT-family encoders only.
#[derive(Debug, Clone, Default)]
pub struct Recipe<'a> {
    /// `--calibrate`: the encoder's linear layers are quantized with GPTQ
    /// against the inputs they see on these texts ([`crate::quant::gptq`]);
    /// the other quantized weights (embeddings, heads) by round-to-nearest.
    pub calibration: Option<&'a [String]>,
    /// `--mixed` (with 4 bits): [`mixed_8bit`] weights at 8 bits.
    pub mixed: bool,
}

/// Whether `--mixed` keeps weight `name` of a `layers`-layer BERT-family
/// encoder at 8 bits: every layer's value projection and the feed-forward
/// weights of the last third of the layers. These are what 4 bits hurt
/// most on all-MiniLM-L6-v2 (each kind alone at 4 bits, the rest f32, worst
/// cosine: value 0.959, intermediate 0.975, FFN output 0.984, attention
/// output 0.995, query/key 0.999; by layer the last two lose most), much as
/// llama.cpp's Q4_K_M keeps attn_v and ffn_down wider.
pub fn mixed_8bit(name: &str, layers: usize) -> bool {
    let Some(at) = name.find("layer.") else { return false };
    let Some((index, module)) = name[at + "layer.".len()..].split_once('.') else { return false };
    let Ok(index) = index.parse::<usize>() else { return false };
    let value = matches!(module, "attention.self.value.weight" | "attention.v_lin.weight");
    let ffn = matches!(module, "intermediate.dense.weight" | "output.dense.weight" | "ffn.lin1.weight" | "ffn.lin2.weight");
    value || (ffn && index >= layers - layers / 3)
}

/// [`from_hf_dir`] with a [`Recipe`].
pub fn from_hf_dir_with(dir: &Path, opt: Options, recipe: &Recipe) -> Result<Folder> {
    opt.check()?;
    let (bits, group) = (opt.bits.unwrap_or(DEFAULT_BITS), opt.group.unwrap_or(DEFAULT_GROUP));
    let config_path = dir.join("config.json");
    let cfg_name = config_path.display().to_string();
    let config: serde_json::Value = serde_json::from_slice(&read_file(&config_path)?).map_err(|e| bad(&cfg_name, None, "a JSON object", e.to_string()))?;
    let serde_json::Value::Object(config) = config else {
        return Err(bad(&cfg_name, None, "a JSON object", "another JSON value"));
    };
    for k in ["quantization", "quantization_config"] {
        if config.contains_key(k) {
            return Err(bad(&cfg_name, None, "an unquantized model (f32, f16 or bf16 weights)", format!("a \"{k}\" entry: the folder is already quantized")));
        }
    }
    if recipe.calibration.is_some() || recipe.mixed {
        encoder_only(&config, if recipe.mixed { "--mixed" } else { "--calibrate" })?;
    }
    if recipe.mixed && bits != 4 {
        return Err(Error::InvalidArgument(format!("--mixed keeps some weights at 8 bits beside 4-bit ones: it needs --bits 4, not {bits}")));
    }
    let layers = ["num_hidden_layers", "n_layers"].iter().find_map(|k| config.get(*k).and_then(|v| v.as_u64())).unwrap_or(0) as usize;
    let bits_of = |name: &str| if recipe.mixed && mixed_8bit(name, layers) { 8 } else { bits };
    let factors = match recipe.calibration {
        Some(texts) => calibrate(dir, texts)?,
        None => BTreeMap::new(),
    };
    let mut out = Folder { config, ..Folder::default() };
    for (path, bytes) in weight_files(dir)? {
        let st = SafeTensors::parse(&path.display().to_string(), &bytes)?;
        for t in st.tensors() {
            convert_tensor(&mut out, &t, bits_of(t.name), group, &factors)?;
        }
    }
    if let Some(texts) = recipe.calibration {
        let n = out.quantized.iter().filter(|(p, _, _)| factors.contains_key(p)).count();
        out.notes.push(format!("GPTQ-calibrated {n} linear layers on {} texts; the rest by round-to-nearest", texts.len()));
    }
    if recipe.mixed {
        let wide = out.quantized.iter().filter(|(_, b, _)| *b == 8).count();
        out.notes.push(format!("--mixed: {wide} of {} quantized weights at 8 bits, the rest at 4", out.quantized.len()));
    }
    for f in COPIED {
        let p = dir.join(f);
        if p.is_file() {
            out.files.push((f.to_string(), read_file(&p)?));
        }
    }
    Ok(out)
}

/// Runs the folder's encoder (f32, on the CPU) over `texts` one at a time and
/// returns, per linear layer (checkpoint path without `.weight`), the GPTQ
/// factor of the inputs it saw. Layers fed one input share its statistics.
fn calibrate(dir: &Path, texts: &[String]) -> Result<BTreeMap<String, Rc<Factor>>> {
    if texts.is_empty() {
        return Err(Error::InvalidArgument("--calibrate: the calibration file holds no texts".into()));
    }
    let (files, params) = load_dir(dir, &Device::Cpu)?;
    let model = Bert::new(&files, &params)?;
    // One Hessian per distinct input, keyed by the first layer that reads it, with all its readers.
    let mut stats: BTreeMap<String, (Vec<String>, Hessian)> = BTreeMap::new();
    for text in texts {
        let e = model.encode(text, EncodeOptions::default())?;
        model.forward_tapped(&[e], &mut |paths, x| {
            let c = *x.shape().last().unwrap_or(&0);
            let rows = x.numel() / c.max(1);
            let x2 = x.reshape(&[rows, c])?;
            let gram = pollster::block_on(x2.transpose()?.matmul(&x2)?.to_vec_f32())?;
            stats.entry(paths[0].clone()).or_insert_with(|| (paths.to_vec(), Hessian::new(c))).1.add_gram(&gram, rows);
            Ok(())
        })?;
    }
    let mut factors = BTreeMap::new();
    for (paths, h) in stats.into_values() {
        let f = Rc::new(h.factor().map_err(|e| Error::InvalidArgument(format!("--calibrate: {}: {e}", paths.join(", "))))?);
        for p in paths {
            factors.insert(p, f.clone());
        }
    }
    Ok(factors)
}

/// `option` (`--calibrate`, `--mixed`) is for BERT-family encoders: an error for other configs.
fn encoder_only(config: &serde_json::Map<String, serde_json::Value>, option: &str) -> Result<()> {
    let kind = config.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
    if matches!(kind, "bert" | "distilbert") {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!("{option}: this is for BERT-family encoders (model_type bert or distilbert), not {kind:?}; convert without it")))
}

fn convert_tensor(out: &mut Folder, t: &TensorView, bits: u32, group: usize, factors: &BTreeMap<String, Rc<Factor>>) -> Result<()> {
    let float = matches!(t.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16);
    if !float {
        out.tensors.push(crate::weights::convert::OutTensor { name: t.name.into(), dtype: t.dtype, shape: t.shape.to_vec(), bytes: t.bytes.to_vec() });
        return Ok(());
    }
    let data = t.to_f32()?;
    if quantizable(t.name, t.shape) {
        let (rows, cols) = (t.shape[0], t.shape[1]);
        if cols.is_multiple_of(group) {
            let q = match t.name.strip_suffix(".weight").and_then(|p| factors.get(p)) {
                Some(f) => quantize_gptq(&data, rows, cols, bits, group, f).map_err(|e| bad(t.file, Some(t.name), "a weight GPTQ takes", e.to_string()))?,
                None => quantize_weight(t.file, t.name, &data, rows, cols, bits, group)?,
            };
            out.push_quantized(t.name, &q);
            return Ok(());
        }
        out.notes.push(format!("{}: kept as {} ({cols} columns are not a multiple of the group size {group})", t.name, t.dtype.name()));
    }
    let dtype = if t.shape.len() <= 1 { Dtype::F32 } else { t.dtype };
    out.push_float(t.name, t.shape.to_vec(), &data, dtype);
    Ok(())
}

impl Folder {
    /// Writes `config.json`, the other files and `model.safetensors` into a
    /// temporary folder beside `out`, then renames it to `out`: a failed
    /// conversion leaves nothing at `out`. `out` must not exist, or be an empty folder.
    pub fn write(&self, out: &Path) -> Result<()> {
        let name = out.file_name().ok_or_else(|| Error::InvalidArgument(format!("{}: not a folder name", out.display())))?;
        if out.exists() {
            let empty = out.is_dir() && std::fs::read_dir(out).map_err(io(out))?.next().is_none();
            if !empty {
                return Err(Error::Io {
                    file: out.display().to_string(),
                    message: "already exists and is not an empty folder; choose a new output folder".into(),
                });
            }
        }
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = parent.join(format!(".{}.webfm-tmp-{}", name.to_string_lossy(), std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        let result = self.write_into(&tmp).and_then(|()| {
            if out.exists() {
                std::fs::remove_dir(out).map_err(io(out))?;
            }
            std::fs::rename(&tmp, out).map_err(io(out))
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn write_into(&self, dir: &Path) -> Result<()> {
        let put = |rel: &str, bytes: &[u8]| -> Result<()> {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&p, bytes).map_err(io(&p))
        };
        let config = serde_json::to_vec_pretty(&self.config_json()).map_err(|e| Error::InvalidArgument(format!("config.json: {e}")))?;
        put("config.json", &config)?;
        for (rel, bytes) in &self.files {
            put(rel, bytes)?;
        }
        let entries: Vec<Entry> = self.tensors.iter().map(|t| Entry { name: &t.name, dtype: t.dtype, shape: &t.shape, bytes: &t.bytes }).collect();
        let format = if self.quantized.is_empty() { "pt" } else { "mlx" };
        let meta = BTreeMap::from([("format".to_string(), format.to_string())]);
        put("model.safetensors", &serialize("model.safetensors", &entries, &meta)?)
    }
}
