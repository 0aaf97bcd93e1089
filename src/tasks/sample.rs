//! Choosing the next token: temperature, top-k and top-p over the logits
//! after the repetition penalty, from a seeded, portable random stream.

use super::generate::GenerateOptions;
use crate::ops::decoder::{argmax, penalize};

/// SplitMix64: a seeded, portable random stream for sampling.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks a token from `logits` by temperature, top-k and top-p (as
/// transformers' warpers do), after the repetition penalty.
pub fn sample(logits: &mut [f32], seen: &[u32], opt: &GenerateOptions, u: f64) -> u32 {
    penalize(logits, seen, opt.repetition_penalty);
    if opt.temperature == 0.0 {
        return argmax(logits);
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
    if opt.top_k > 0 {
        order.truncate(opt.top_k);
    }
    let m = logits[order[0] as usize];
    let mut probs: Vec<f64> = order.iter().map(|&i| (((logits[i as usize] - m) / opt.temperature) as f64).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if opt.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs.iter().position(|&p| {
            acc += p;
            acc >= opt.top_p as f64
        });
        let keep = keep.map_or(probs.len(), |i| i + 1);
        order.truncate(keep);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut r = u * total;
    for (&id, &p) in order.iter().zip(&probs) {
        if r < p {
            return id;
        }
        r -= p;
    }
    *order.last().expect("at least one token")
}
