//! The length-batching policy of the encoder tasks: texts of similar length
//! share a forward pass, so a short text is not padded to a long one's length.

use crate::tokenizer::Encoded;

/// Texts per forward pass, and padded tokens per forward pass, in
/// `Bert::embed` and `Bert::classify`.
const BATCH_TEXTS: usize = 16;
const BATCH_TOKENS: usize = 2048;

/// Indices of `texts` in batches of similar length (sorted by token count),
/// so that a short text is not padded to a long one's length: a text joins
/// the current batch when it is at most 1.5 × the batch's shortest plus 8
/// tokens, and the batch stays within [`BATCH_TEXTS`] texts and
/// [`BATCH_TOKENS`] padded tokens.
pub(crate) fn length_batches(texts: &[Encoded]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].ids.len());
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let len = texts[i].ids.len().max(1);
        match batches.last_mut() {
            // Sorted ascending: b[0] is the shortest, this text the longest so far.
            Some(b) if b.len() < BATCH_TEXTS && (b.len() + 1) * len <= BATCH_TOKENS && len <= texts[b[0]].ids.len() * 3 / 2 + 8 => b.push(i),
            _ => batches.push(vec![i]),
        }
    }
    batches
}
