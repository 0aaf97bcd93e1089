//! Sentence embeddings from an encoder: pooling (mean or CLS, as the folder's
//! `1_Pooling/config.json` says), unit-length normalisation and similarity.

use super::batch::length_batches;
use crate::error::Result;
use crate::models::bert::{Bert, EncodeOptions, Pooling};
use crate::tokenizer::Encoded;

/// One text's result of [`Bert::embed`].
#[derive(Clone, Debug)]
pub struct Embedded {
    pub ids: Vec<u32>,
    pub truncated: bool,
    pub embedding: Vec<f32>,
}

impl Bert {
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
