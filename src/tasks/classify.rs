//! Classification with an encoder: the head's logits as ranked labels, and
//! zero-shot classification by embedding similarity to templated labels.

use super::batch::length_batches;
use super::embed::dot;
use crate::error::{Error, Result};
use crate::models::bert::{Bert, EncodeOptions};
use crate::tokenizer::Encoded;

/// One label and its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

impl Bert {
    /// Labels with softmax scores, best first, at most `top_k` per text.
    /// Texts go through the model in batches of similar length, like [`Bert::embed`].
    pub async fn classify(&self, texts: &[&str], top_k: Option<usize>, opt: EncodeOptions) -> Result<Vec<Vec<LabelScore>>> {
        let encoded = texts.iter().map(|t| self.encode(t, opt)).collect::<Result<Vec<_>>>()?;
        let mut out = vec![Vec::new(); encoded.len()];
        for group in length_batches(&encoded) {
            let batch: Vec<Encoded> = group.iter().map(|&i| encoded[i].clone()).collect();
            for (&i, l) in group.iter().zip(self.logits(&batch).await?) {
                out[i] = ranked(softmax(&l).into_iter().enumerate().map(|(j, s)| LabelScore { label: self.label(j), score: s }).collect(), top_k);
            }
        }
        Ok(out)
    }

    /// Zero-shot: `text` against each label put into `template` ("{}" is
    /// replaced by the label), scored by embedding cosine similarity and
    /// turned into probabilities with a softmax at temperature 0.05 (`score`),
    /// best first.
    pub async fn zero_shot(&self, text: &str, labels: &[&str], template: &str, opt: EncodeOptions) -> Result<Vec<LabelScore>> {
        if labels.is_empty() {
            return Err(Error::InvalidArgument("zero-shot: no candidate labels".into()));
        }
        if !template.contains("{}") {
            return Err(Error::InvalidArgument(format!("zero-shot: the template {template:?} has no {{}} for the label")));
        }
        let mut texts = vec![text.to_string()];
        texts.extend(labels.iter().map(|l| template.replace("{}", l)));
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let e = self.embed(&refs, None, Some(true), opt).await?;
        let sims: Vec<f32> = e[1..].iter().map(|x| dot(&e[0].embedding, &x.embedding)).collect();
        let probs = softmax(&sims.iter().map(|s| s / ZERO_SHOT_TEMPERATURE).collect::<Vec<_>>());
        Ok(ranked(labels.iter().zip(probs).map(|(l, s)| LabelScore { label: l.to_string(), score: s }).collect(), None))
    }
}

/// Softmax temperature over cosine similarities in [`Bert::zero_shot`].
pub const ZERO_SHOT_TEMPERATURE: f32 = 0.05;

pub(crate) fn ranked(mut v: Vec<LabelScore>, top_k: Option<usize>) -> Vec<LabelScore> {
    v.sort_by(|a, b| b.score.total_cmp(&a.score));
    v.truncate(top_k.unwrap_or(usize::MAX));
    v
}

pub fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
