//! `webfm inspect`: the tensors of a GGUF file or of safetensors files (a
//! folder's shards), with dtypes, shapes, bytes and quantization; an affine
//! triple (`P.weight`, `P.scales`, `P.biases`) is shown as one quantized tensor.

use super::convert::module_quantization;
use super::gguf::Gguf;
use super::gguf_types::GgmlType;
use super::safetensors::{Dtype, Header, TensorInfo};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub path: String,
    /// `gguf` or `safetensors`.
    pub format: String,
    /// A few facts about the file (version, architecture, name).
    pub info: BTreeMap<String, String>,
    pub tensors: Vec<Row>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// A checkpoint name; for an affine triple, its `P.weight`.
    pub name: String,
    /// `F32`, `Q4_1`, ... or `affine` for a triple.
    pub dtype: String,
    /// Logical shape (`[out, in]` for a quantized matrix, when known).
    pub shape: Vec<usize>,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quant>,
    /// The shard file, for a folder of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Quant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// dtype of the scales and biases (affine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scales: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tensors: usize,
    pub bytes: u64,
    /// Elements of every tensor, counted by logical shape.
    pub parameters: u64,
    pub quantized_tensors: usize,
    pub quantized_parameters: u64,
    /// Tensors per dtype.
    pub by_dtype: BTreeMap<String, usize>,
}

fn totals(rows: &[Row]) -> Totals {
    let mut t = Totals { tensors: rows.len(), ..Totals::default() };
    for r in rows {
        let n = r.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64));
        t.bytes = t.bytes.saturating_add(r.bytes);
        t.parameters = t.parameters.saturating_add(n);
        if r.quantization.as_ref().is_some_and(|q| q.bits.is_some()) {
            t.quantized_tensors += 1;
            t.quantized_parameters = t.quantized_parameters.saturating_add(n);
        }
        *t.by_dtype.entry(r.dtype.clone()).or_default() += 1;
    }
    t
}

/// A GGUF file's tensors; Q4_0, Q4_1 and Q8_0 show the affine form `webfm convert` gives them.
pub fn gguf(path: &str, g: &Gguf) -> Report {
    let mut info = BTreeMap::from([("version".to_string(), g.version.to_string()), ("metadata keys".to_string(), g.metadata.len().to_string())]);
    for k in ["general.architecture", "general.name", "tokenizer.ggml.model", "tokenizer.ggml.pre"] {
        if let Some(v) = g.get(k).and_then(|v| v.as_str()) {
            info.insert(k.trim_start_matches("general.").to_string(), v.to_string());
        }
    }
    let rows: Vec<Row> = g
        .tensors
        .iter()
        .map(|t| {
            let quantization = match t.ty {
                GgmlType::Q4_0 | GgmlType::Q4_1 => Some(Quant { bits: Some(4), group: Some(32), scales: Some("F16".into()), note: None }),
                GgmlType::Q8_0 => Some(Quant { bits: Some(8), group: Some(32), scales: Some("F16".into()), note: None }),
                GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => None,
                _ => Some(Quant { note: Some("not converted by webfm".into()), ..Quant::default() }),
            };
            Row { name: t.name.clone(), dtype: t.ty.to_string(), shape: t.shape(), bytes: t.n_bytes, quantization, file: None }
        })
        .collect();
    Report { path: path.to_string(), format: "gguf".into(), totals: totals(&rows), info, tensors: rows }
}

/// (bits, group) pairs that fit a triple with `words` packed words and `groups` groups per row.
fn candidates(words: usize, groups: usize) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    for bits in [4u32, 8] {
        for group in [32usize, 64, 128] {
            // Shapes come from the file: checked arithmetic, no overflow.
            let cols = words.checked_mul(32).map(|x| x / bits as usize);
            if groups > 0 && cols.is_some() && cols == group.checked_mul(groups) {
                out.push((bits, group));
            }
        }
    }
    out
}

/// Safetensors headers (one per shard, with the shard's name when there are
/// several) and the folder's `config.json`, which says the bits and group of
/// each affine triple; without it they are inferred from the shapes when only
/// one pair fits.
pub fn safetensors(path: &str, headers: &[(Option<String>, Header)], config: Option<&serde_json::Value>) -> Report {
    let all: HashMap<&str, &TensorInfo> = headers.iter().flat_map(|(_, h)| h.tensors.iter().map(|t| (t.name.as_str(), t))).collect();
    let triple = |prefix: &str| -> Option<(&TensorInfo, &TensorInfo, &TensorInfo)> {
        let w = all.get(format!("{prefix}.weight").as_str())?;
        let s = all.get(format!("{prefix}.scales").as_str())?;
        let b = all.get(format!("{prefix}.biases").as_str())?;
        (w.dtype == Dtype::U32 && w.shape.len() == 2 && s.shape.len() == 2 && s.shape == b.shape && s.shape[0] == w.shape[0]).then_some((*w, *s, *b))
    };
    let mut rows = Vec::new();
    for (file, h) in headers {
        for t in &h.tensors {
            let (prefix, part) = t.name.rsplit_once('.').unwrap_or((t.name.as_str(), ""));
            let in_triple = matches!(part, "weight" | "scales" | "biases") && triple(prefix).is_some();
            if !in_triple {
                let bytes = t.end - t.start;
                rows.push(Row { name: t.name.clone(), dtype: t.dtype.name().into(), shape: t.shape.clone(), bytes, quantization: None, file: file.clone() });
                continue;
            }
            let Some((w, s, b)) = triple(prefix).filter(|_| part == "weight") else { continue };
            let (rows_n, words, groups) = (w.shape[0], w.shape[1], s.shape[1]);
            let fits = candidates(words, groups);
            let (pair, note) = match config.and_then(|c| module_quantization(c, prefix)) {
                Some(p) if fits.contains(&p) => (Some(p), None),
                Some((bits, group)) => (None, Some(format!("config.json says {bits}-bit g{group}, which these shapes do not fit"))),
                None if fits.len() == 1 => (Some(fits[0]), None),
                None => (None, Some(format!("bits and group not known without config.json: one of {fits:?}"))),
            };
            let shape = match pair {
                Some((bits, _)) => vec![rows_n, words * 32 / bits as usize],
                None => w.shape.clone(),
            };
            let bytes = (w.end - w.start).saturating_add(s.end - s.start).saturating_add(b.end - b.start);
            let quantization = Some(Quant { bits: pair.map(|p| p.0), group: pair.map(|p| p.1), scales: Some(s.dtype.name().into()), note });
            rows.push(Row { name: t.name.clone(), dtype: "affine".into(), shape, bytes, quantization, file: file.clone() });
        }
    }
    let mut info = BTreeMap::from([("files".to_string(), headers.len().to_string())]);
    if let Some(mt) = config.and_then(|c| c.get("model_type")).and_then(|m| m.as_str()) {
        info.insert("model_type".into(), mt.into());
    }
    Report { path: path.to_string(), format: "safetensors".into(), totals: totals(&rows), info, tensors: rows }
}

impl Report {
    /// A table for people: one line per tensor, then the totals.
    pub fn to_text(&self) -> String {
        let quant = |r: &Row| match &r.quantization {
            None => String::new(),
            Some(q) => {
                let mut s = match (q.bits, q.group) {
                    (Some(b), Some(g)) => format!("{b}-bit g{g}"),
                    _ => String::new(),
                };
                if let Some(sc) = q.scales.as_ref().filter(|_| r.dtype == "affine") {
                    s += &format!(" ({sc} scales)");
                }
                if let Some(n) = &q.note {
                    s += &format!("{}{n}", if s.is_empty() { "" } else { "; " });
                }
                s
            }
        };
        let cells: Vec<[String; 5]> =
            self.tensors.iter().map(|r| [r.name.clone(), r.dtype.clone(), format!("{:?}", r.shape), r.bytes.to_string(), quant(r)]).collect();
        let head = ["name", "dtype", "shape", "bytes", "quantization"].map(String::from);
        let mut width = [0usize; 5];
        for row in std::iter::once(&head).chain(&cells) {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let info: Vec<String> = self.info.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut out = format!("{} ({}: {})\n", self.path, self.format, info.join(", "));
        for row in std::iter::once(&head).chain(&cells) {
            let line = format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3]
            );
            out += line.trim_end();
            out.push('\n');
        }
        let t = &self.totals;
        let by: Vec<String> = t.by_dtype.iter().map(|(d, n)| format!("{n} {d}")).collect();
        out += &format!(
            "total: {} tensors ({}), {} bytes ({:.1} MiB), {} parameters, {} quantized tensors holding {} parameters\n",
            t.tensors,
            by.join(", "),
            t.bytes,
            t.bytes as f64 / (1024.0 * 1024.0),
            t.parameters,
            t.quantized_tensors,
            t.quantized_parameters
        );
        out
    }
}
