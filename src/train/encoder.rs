//! Fine-tuning an encoder for classification: a head on pooled features
//! (`logits = features · Wᵀ + b`), alone or with LoRA adapters inside the
//! frozen encoder. The loss is the batch's mean cross-entropy; AdamW with
//! global-norm clipping updates the adapter.
//!
//! Each example runs alone through the encoder (no padding, so no mask),
//! keeping one layer's activations per layer for its backward; a layer's are
//! dropped as soon as its gradients are done. With the head alone the
//! encoder is not differentiated at all: features are computed once per text
//! and cached.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::kinds::Act;
use crate::models::bert::{Activation, Bert, EncoderHooks, Kept, Layer, Pooling};
use crate::models::Proj;
use crate::ops::backward::AdamW;
use crate::ops::tensor::Tensor;
use crate::tokenizer::Encoded;
use crate::train::backward::{attention_backward, attention_forward, take_saved, AttentionActs};
use crate::train::lora::{self, LoraConfig, LoraSet, Rng, Saved, PEFT_PREFIX};
use crate::train::optim::{accumulate_lora, Grads, Optimizer, StepReport};

/// The head's module name (PEFT `modules_to_save`).
pub const HEAD: &str = "classifier";

/// A trainable classifier on a frozen encoder: the head and, optionally, LoRA adapters.
#[derive(Clone)]
pub struct ClassifierAdapter {
    pub labels: Vec<String>,
    pub pooling: Pooling,
    /// `[labels, hidden]`
    pub head_w: Tensor,
    /// `[labels]`
    pub head_b: Tensor,
    /// Adapters by module path (`bert.encoder.layer.0.attention.self.query`).
    pub lora: Option<LoraSet>,
}

impl ClassifierAdapter {
    /// A fresh adapter for `model`: the head uniform in ±1/√hidden (torch's
    /// `nn.Linear` init), LoRA `A` uniform in ±1/√in and `B` zero (PEFT's
    /// init: the adapted model starts equal to the base).
    pub fn new(model: &Bert, labels: Vec<String>, pooling: Pooling, lora: Option<LoraConfig>, seed: u64) -> Result<ClassifierAdapter> {
        if labels.len() < 2 {
            return Err(Error::InvalidArgument(format!("fine-tuning a classifier needs at least 2 labels, got {}", labels.len())));
        }
        let device = model.device();
        let h = model.config.hidden;
        let c = labels.len();
        let mut rng = Rng::new(seed);
        let bound = 1.0 / (h as f32).sqrt();
        let head_w = Tensor::from_f32(device, &rng.uniform(c * h, bound), &[c, h])?;
        let head_b = Tensor::from_f32(device, &rng.uniform(c, bound), &[c])?;
        let lora = match lora {
            Some(cfg) => {
                let layers = model.layers.iter().flat_map(|l| l.projections().map(|(_, p, lin)| (p, lin)));
                Some(LoraSet::new(device, cfg, layers, &mut rng)?)
            }
            None => None,
        };
        Ok(ClassifierAdapter { labels, pooling, head_w, head_b, lora })
    }

    fn scale(&self) -> f32 {
        self.lora.as_ref().map_or(0.0, LoraSet::scale)
    }

    fn adapter(&self, path: &str) -> Option<&lora::LoraWeights> {
        self.lora.as_ref().and_then(|l| l.get(path))
    }

    fn has_lora(&self) -> bool {
        self.lora.is_some()
    }

    /// The trainable tensors by their PEFT names.
    pub fn params(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![(format!("{PEFT_PREFIX}{HEAD}.weight"), self.head_w.clone()), (format!("{PEFT_PREFIX}{HEAD}.bias"), self.head_b.clone())];
        if let Some(l) = &self.lora {
            out.extend(l.params());
        }
        out
    }

    /// Replaces the trainable tensor `name` (a PEFT name from [`params`](Self::params)); its shape must not change.
    pub fn set_param(&mut self, name: &str, t: Tensor) -> Result<()> {
        let head = match name.strip_prefix(PEFT_PREFIX) {
            Some(r) if r == format!("{HEAD}.weight") => Some(&mut self.head_w),
            Some(r) if r == format!("{HEAD}.bias") => Some(&mut self.head_b),
            _ => None,
        };
        match (head, &mut self.lora) {
            (Some(slot), _) if slot.shape() == t.shape() => {
                *slot = t;
                Ok(())
            }
            (Some(slot), _) => Err(Error::shapes("adapter", slot.shape(), t.shape(), format!("{name} must keep its shape"))),
            (None, Some(l)) => l.set(name, t),
            (None, None) => Err(Error::InvalidArgument(format!("adapter: no trainable tensor named {name}"))),
        }
    }
}

/// One labelled text.
#[derive(Clone, Debug)]
pub struct Example {
    pub encoded: Encoded,
    pub label: usize,
}

/// One layer's activations, kept for its backward.
struct LayerTape {
    q: Saved,
    k: Saved,
    v: Saved,
    /// `[B·heads, T, D]` heads and `[B·heads, T, T]` probabilities.
    attn: AttentionActs,
    o: Saved,
    /// The first layer norm's input (attention output + residual).
    h1: Tensor,
    up: Saved,
    /// The activation's input.
    pre_act: Tensor,
    down: Saved,
    /// The second layer norm's input.
    h2: Tensor,
}

/// The encoder's forward for one example with adapters, keeping activations when `tape`.
struct Forward {
    hidden: Tensor,
    /// Tokens per example (padded).
    t: usize,
    layers: Vec<LayerTape>,
}

/// Training hooks for [`Layer::forward`]: each projection through its LoRA
/// adapter (keeping its input), attention materialized over the padded batch
/// (keeping the heads and probabilities), and the residuals kept.
struct Recording<'a> {
    adapter: &'a ClassifierAdapter,
    scale: f32,
    b: usize,
    heads: usize,
    attn_scale: f32,
    mask: Option<&'a Tensor>,
    /// Whether to keep anything (false when only logits are wanted).
    keep: bool,
    layer: Partial,
}

/// A [`LayerTape`] as the forward fills it.
#[derive(Default)]
struct Partial {
    saved: Vec<(Proj, Saved)>,
    attn: Option<AttentionActs>,
    h1: Option<Tensor>,
    pre_act: Option<Tensor>,
    h2: Option<Tensor>,
}

impl Partial {
    fn finish(mut self) -> Result<LayerTape> {
        let mut take = |p: Proj| take_saved(&mut self.saved, p);
        let (q, k, v, o, up, down) = (take(Proj::Q)?, take(Proj::K)?, take(Proj::V)?, take(Proj::O)?, take(Proj::Up)?, take(Proj::Down)?);
        let missing = |what: &str| Error::InvalidArgument(format!("fine-tuning: the layer kept no {what}"));
        Ok(LayerTape {
            q,
            k,
            v,
            attn: self.attn.ok_or_else(|| missing("attention"))?,
            o,
            h1: self.h1.ok_or_else(|| missing("h1"))?,
            up,
            pre_act: self.pre_act.ok_or_else(|| missing("pre-activation"))?,
            down,
            h2: self.h2.ok_or_else(|| missing("h2"))?,
        })
    }
}

impl EncoderHooks for Recording<'_> {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor> {
        let (y, saved) = lora::forward(layer.linear(p), self.adapter.adapter(layer.path(p)), self.scale, x)?;
        if self.keep {
            self.layer.saved.push((p, saved));
        }
        Ok(y)
    }

    fn attend(&mut self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, heads) = (self.b, self.heads);
        let (qh, kh, vh) = (q.split_heads_batched(b, heads)?, k.split_heads_batched(b, heads)?, v.split_heads_batched(b, heads)?);
        let (a, acts) = attention_forward(qh, kh, vh, self.mask, self.attn_scale)?;
        if self.keep {
            self.layer.attn = Some(acts);
        }
        a.merge_heads_batched(b)
    }

    fn keep(&mut self, what: Kept, t: &Tensor) {
        if !self.keep {
            return;
        }
        let slot = match what {
            Kept::AttentionResidual => &mut self.layer.h1,
            Kept::PreActivation => &mut self.layer.pre_act,
            Kept::FfnResidual => &mut self.layer.h2,
        };
        *slot = Some(t.clone());
    }
}

/// Trains a [`ClassifierAdapter`] on a frozen [`Bert`].
pub struct ClassifierTrainer<'m> {
    model: &'m Bert,
    pub adapter: ClassifierAdapter,
    pub optimizer: Optimizer,
    /// The gradients of the last step, before clipping, by PEFT name.
    pub last_grads: Grads,
    features: HashMap<Vec<u32>, Tensor>,
}

impl Bert {
    /// The pooling matrix `[B, B·T]` of a batch padded to `T` tokens: row
    /// `b` averages example `b`'s real tokens (mean) or takes its first (CLS).
    fn pool_matrix(&self, pooling: Pooling, lens: &[usize], t: usize) -> Result<Tensor> {
        let b = lens.len();
        let mut m = vec![0f32; b * b * t];
        for (i, &len) in lens.iter().enumerate() {
            let row = &mut m[i * b * t + i * t..][..t];
            match pooling {
                Pooling::Mean => row[..len].iter_mut().for_each(|x| *x = 1.0 / len as f32),
                Pooling::Cls => row[0] = 1.0,
            }
        }
        Tensor::from_f32(self.device(), &m, &[b, b * t])
    }

    /// `[B·H, T, T]`: 0 where a query may see a key (the key is one of its
    /// example's real tokens), a large negative number on padding keys.
    fn padding_mask(&self, lens: &[usize], t: usize) -> Result<Tensor> {
        let heads = self.config.heads;
        let mut m = Vec::with_capacity(lens.len() * heads * t * t);
        for &len in lens {
            let row: Vec<f32> = (0..t).map(|j| if j < len { 0.0 } else { -1e30 }).collect();
            for _ in 0..heads * t {
                m.extend_from_slice(&row);
            }
        }
        Tensor::from_f32(self.device(), &m, &[lens.len() * heads, t, t])
    }

    /// Embeddings + first layer norm of a batch padded to its longest
    /// example: `([B·T, H], T)`; padding rows hold the pad id's embedding.
    fn embed_tokens(&self, batch: &[&Encoded]) -> Result<(Tensor, usize)> {
        let t = batch.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if batch.iter().any(|e| e.ids.is_empty()) {
            return Err(Error::InvalidArgument("fine-tuning: an example has no tokens".into()));
        }
        Ok((self.token_embeddings(batch, t)?, t))
    }

    fn act(&self) -> Act {
        match self.config.act {
            Activation::Gelu => Act::Gelu,
            Activation::Relu => Act::Relu,
        }
    }

    /// The last hidden states `[B·T, H]` of a batch (padded to `T`) through
    /// the adapters. Padding keys are masked, so real tokens never see
    /// padding; padding rows compute garbage that pooling ignores and that
    /// gets zero gradient.
    fn forward_adapted(&self, batch: &[&Encoded], adapter: &ClassifierAdapter, tape: bool) -> Result<Forward> {
        let heads = self.config.heads;
        let scale = adapter.scale();
        let attn_scale = 1.0 / ((self.config.hidden / heads) as f32).sqrt();
        let (mut x, t) = self.embed_tokens(batch)?;
        let lens: Vec<usize> = batch.iter().map(|e| e.ids.len()).collect();
        let b = batch.len();
        let mask = if lens.iter().all(|&l| l == t) { None } else { Some(self.padding_mask(&lens, t)?) };
        let mut layers = Vec::new();
        for layer in &self.layers {
            let mut rec = Recording { adapter, scale, b, heads, attn_scale, mask: mask.as_ref(), keep: tape, layer: Partial::default() };
            x = layer.forward(&x, self.config.act, &mut rec)?;
            if tape {
                layers.push(rec.layer.finish()?);
            }
        }
        Ok(Forward { hidden: x, t, layers })
    }

    /// Pooled features `[B, H]` of a batch through the adapters, with the forward when `tape`.
    fn features(&self, batch: &[&Encoded], adapter: &ClassifierAdapter, tape: bool) -> Result<(Tensor, Tensor, Forward)> {
        let fwd = self.forward_adapted(batch, adapter, tape)?;
        let lens: Vec<usize> = batch.iter().map(|e| e.ids.len()).collect();
        let pool = self.pool_matrix(adapter.pooling, &lens, fwd.t)?;
        Ok((pool.matmul(&fwd.hidden)?, pool, fwd))
    }
}

impl ClassifierAdapter {
    /// Logits `[1, labels]` of one example on `model` with this adapter.
    pub fn logits(&self, model: &Bert, e: &Encoded) -> Result<Tensor> {
        let (features, _, _) = model.features(&[e], self, false)?;
        features.matmul(&self.head_w.transpose()?)?.add(&self.head_b)
    }

    /// Labels with softmax scores, best first, at most `top_k` per text.
    pub async fn classify(
        &self,
        model: &Bert,
        texts: &[&str],
        top_k: Option<usize>,
        opt: crate::models::bert::EncodeOptions,
    ) -> Result<Vec<Vec<crate::tasks::classify::LabelScore>>> {
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            let e = model.encode(t, opt)?;
            let l = self.logits(model, &e)?.to_vec_f32().await?;
            let scores = crate::tasks::classify::softmax(&l);
            let labels = scores.into_iter().enumerate().map(|(j, s)| crate::tasks::classify::LabelScore { label: self.labels[j].clone(), score: s }).collect();
            out.push(crate::tasks::classify::ranked(labels, top_k));
        }
        Ok(out)
    }
}

impl<'m> ClassifierTrainer<'m> {
    pub fn new(model: &'m Bert, adapter: ClassifierAdapter, opt: AdamW, max_grad_norm: Option<f32>) -> ClassifierTrainer<'m> {
        ClassifierTrainer { model, adapter, optimizer: Optimizer::new(opt, max_grad_norm), last_grads: Grads::new(), features: HashMap::new() }
    }

    fn check_labels(&self, batch: &[Example]) -> Result<()> {
        if batch.is_empty() {
            return Err(Error::InvalidArgument("fine-tuning: an empty batch".into()));
        }
        let c = self.adapter.labels.len();
        if let Some(e) = batch.iter().find(|e| e.label >= c) {
            return Err(Error::InvalidArgument(format!("fine-tuning: label id {} but the head has {c} labels", e.label)));
        }
        Ok(())
    }

    /// Pooled features `[1, H]` of one example with the head alone (no adapters in the encoder): cached.
    fn frozen_features(&mut self, e: &Encoded) -> Result<Tensor> {
        if let Some(f) = self.features.get(&e.ids) {
            return Ok(f.clone());
        }
        let (f, _, _) = self.model.features(&[e], &self.adapter, false)?;
        self.features.insert(e.ids.clone(), f.clone());
        Ok(f)
    }

    /// Logits `[1, labels]` of one example with the adapter as it is now
    /// (the frozen features cached when there is no LoRA).
    pub fn logits(&mut self, e: &Encoded) -> Result<Tensor> {
        if self.adapter.has_lora() {
            return self.adapter.logits(self.model, e);
        }
        self.frozen_features(e)?.matmul(&self.adapter.head_w.transpose()?)?.add(&self.adapter.head_b)
    }

    /// The batch's mean loss and the gradients of every trainable tensor:
    /// one padded pass for the whole batch.
    fn gradients(&mut self, batch: &[Example]) -> Result<(Tensor, Grads)> {
        self.check_labels(batch)?;
        let n = batch.len();
        let inv_b = 1.0 / n as f32;
        let mut grads = Grads::new();
        let scale = self.adapter.scale();
        let heads = self.model.config.heads;
        let attn_scale = 1.0 / ((self.model.config.hidden / heads) as f32).sqrt();
        let encoded: Vec<&Encoded> = batch.iter().map(|e| &e.encoded).collect();
        let (features, fwd) = if self.adapter.has_lora() {
            let (f, pool, fwd) = self.model.features(&encoded, &self.adapter, true)?;
            (f, Some((fwd, pool)))
        } else {
            let rows = encoded.iter().map(|e| self.frozen_features(e)).collect::<Result<Vec<_>>>()?;
            let h = self.model.config.hidden;
            let flat: Vec<Tensor> = rows.iter().map(|r| r.reshape(&[1, h])).collect::<Result<_>>()?;
            (Tensor::cat_cols(&flat)?.reshape(&[n, h])?, None)
        };
        let logits = features.matmul(&self.adapter.head_w.transpose()?)?.add(&self.adapter.head_b)?;
        let targets: Vec<i64> = batch.iter().map(|e| e.label as i64).collect();
        let (rows, dlogits) = logits.cross_entropy(&targets, inv_b)?;
        let loss = rows.reshape(&[n, 1])?.sum_rows()?.scale(inv_b)?;
        grads.insert(format!("{PEFT_PREFIX}{HEAD}.weight"), dlogits.transpose()?.matmul(&features)?);
        grads.insert(format!("{PEFT_PREFIX}{HEAD}.bias"), dlogits.sum_rows()?);
        let Some((fwd, pool)) = fwd else { return Ok((loss, grads)) };
        // Into the encoder: d features -> d hidden (the pooling's transpose).
        let dfeat = dlogits.matmul(&self.adapter.head_w)?;
        let mut dx = pool.transpose()?.matmul(&dfeat)?;
        let lowest = self.lowest_adapted_layer();
        let mut tapes = fwd.layers;
        for (li, layer) in self.model.layers.iter().enumerate().rev() {
            let tape = tapes.pop().expect("one tape per layer");
            let need_below = li > lowest;
            let lora_of = |p: Proj| self.adapter.adapter(layer.path(p));
            let put = |p: Proj, g, grads: &mut Grads| accumulate_lora(grads, layer.path(p), g);
            // x = ln2(h2), h2 = down(act(up(x1))) + x1, x1 = ln1(h1), h1 = o(attn) + x_in.
            let dh2 = tape.h2.norm_input_grad(&layer.ln2.gamma, &dx, layer.ln2.eps, false)?;
            let (dact, g) = lora::backward(&layer.down, lora_of(Proj::Down), scale, tape.down, &dh2, true)?;
            put(Proj::Down, g, &mut grads)?;
            let dpre = tape.pre_act.act_backward(&dact.expect("asked for dx"), self.model.act())?;
            let (dx1_up, g) = lora::backward(&layer.up, lora_of(Proj::Up), scale, tape.up, &dpre, true)?;
            put(Proj::Up, g, &mut grads)?;
            let dx1 = dh2.add(&dx1_up.expect("asked for dx"))?;
            let dh1 = tape.h1.norm_input_grad(&layer.ln1.gamma, &dx1, layer.ln1.eps, false)?;
            let (da, g) = lora::backward(&layer.o, lora_of(Proj::O), scale, tape.o, &dh1, true)?;
            put(Proj::O, g, &mut grads)?;
            // Attention: out = P · V, P = softmax(Q · Kᵀ · s + mask) (the mask is constant).
            let dout = da.expect("asked for dx").split_heads_batched(n, heads)?;
            let (dqh, dkh, dvh) = attention_backward(&tape.attn, &dout, attn_scale)?;
            let mut next = if need_below { Some(dh1) } else { None };
            for (i, saved, d) in [(Proj::Q, tape.q, dqh), (Proj::K, tape.k, dkh), (Proj::V, tape.v, dvh)] {
                let (dxi, g) = lora::backward(layer.linear(i), lora_of(i), scale, saved, &d.merge_heads_batched(n)?, need_below)?;
                put(i, g, &mut grads)?;
                if let (Some(acc), Some(dxi)) = (next.take(), dxi) {
                    next = Some(acc.add(&dxi)?);
                }
            }
            match next {
                Some(nx) => dx = nx,
                None => break,
            }
        }
        Ok((loss, grads))
    }

    /// The lowest layer with an adapter: backpropagation stops there.
    fn lowest_adapted_layer(&self) -> usize {
        self.model.layers.iter().position(|l| l.projections().any(|(_, p, _)| self.adapter.adapter(p).is_some())).unwrap_or(self.model.layers.len())
    }

    /// One optimizer step on `batch` at learning rate `lr`.
    pub async fn step(&mut self, batch: &[Example], lr: f64) -> Result<StepReport> {
        let (loss, grads) = self.gradients(batch)?;
        let params = self.adapter.params();
        let adapter = &mut self.adapter;
        let report = self.optimizer.step(&loss, &grads, params, lr, |name, t| adapter.set_param(name, t)).await?;
        self.last_grads = grads;
        Ok(report)
    }
}
