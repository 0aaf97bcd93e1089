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
use crate::models::bert::{Activation, Bert, Pooling};
use crate::tensor::Tensor;
use crate::tokenizer::Encoded;
use crate::train::lora::{self, LoraConfig, LoraSet, Rng, Saved, PEFT_PREFIX};
use crate::train::ops::{Act, AdamW};
use crate::train::optim::{accumulate, accumulate_lora, Grads, Optimizer, StepReport};

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
                let layers = model.layers.iter().flat_map(|l| l.paths.iter().map(String::as_str).zip(l.linears()));
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
    /// `[heads, T, D]` each.
    qh: Tensor,
    kh: Tensor,
    vh: Tensor,
    /// `[heads, T, T]`
    probs: Tensor,
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
    layers: Vec<LayerTape>,
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
    /// The pooling row vector `[1, T]`: `1/T` everywhere (mean) or `[1, 0, ..]` (CLS).
    fn pool_vector(&self, pooling: Pooling, t: usize) -> Result<Tensor> {
        let v = match pooling {
            Pooling::Mean => vec![1.0 / t as f32; t],
            Pooling::Cls => (0..t).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
        };
        Tensor::from_f32(self.device(), &v, &[1, t])
    }

    /// Embeddings + first layer norm of one example: `[T, H]`.
    fn embed_tokens(&self, e: &Encoded) -> Result<Tensor> {
        let t = e.ids.len();
        if t == 0 {
            return Err(Error::InvalidArgument("fine-tuning: an example has no tokens".into()));
        }
        let positions: Vec<u32> = (0..t as u32).collect();
        let mut x = self.word.forward(self.device(), &e.ids)?.add(&self.position.forward(self.device(), &positions)?)?;
        if let Some(tt) = &self.token_type {
            x = x.add(&tt.forward(self.device(), &e.type_ids)?)?;
        }
        self.ln.forward(&x)
    }

    fn act(&self) -> Act {
        match self.config.act {
            Activation::Gelu => Act::Gelu,
            Activation::Relu => Act::Relu,
        }
    }

    /// The last hidden states `[T, H]` of one example through the adapters.
    fn forward_adapted(&self, e: &Encoded, adapter: &ClassifierAdapter, tape: bool) -> Result<Forward> {
        let heads = self.config.heads;
        let scale = adapter.scale();
        let attn_scale = 1.0 / ((self.config.hidden / heads) as f32).sqrt();
        let mut x = self.embed_tokens(e)?;
        let mut layers = Vec::new();
        for layer in &self.layers {
            let lora_of = |i: usize| adapter.adapter(&layer.paths[i]);
            let (q, qs) = lora::forward(&layer.q, lora_of(0), scale, &x)?;
            let (k, ks) = lora::forward(&layer.k, lora_of(1), scale, &x)?;
            let (v, vs) = lora::forward(&layer.v, lora_of(2), scale, &x)?;
            let (qh, kh, vh) = (q.split_heads(heads)?, k.split_heads(heads)?, v.split_heads(heads)?);
            let probs = qh.matmul(&kh.transpose()?)?.scale(attn_scale)?.softmax()?;
            let a = probs.matmul(&vh)?.merge_heads()?;
            let (o, os) = lora::forward(&layer.o, lora_of(3), scale, &a)?;
            let h1 = o.add(&x)?;
            let x1 = layer.ln1.forward(&h1)?;
            let (pre_act, ups) = lora::forward(&layer.up, lora_of(4), scale, &x1)?;
            let act = match self.act() {
                Act::Relu => pre_act.relu()?,
                _ => pre_act.gelu()?,
            };
            let (down, downs) = lora::forward(&layer.down, lora_of(5), scale, &act)?;
            let h2 = down.add(&x1)?;
            x = layer.ln2.forward(&h2)?;
            if tape {
                layers.push(LayerTape { q: qs, k: ks, v: vs, qh, kh, vh, probs, o: os, h1, up: ups, pre_act, down: downs, h2 });
            }
        }
        Ok(Forward { hidden: x, layers })
    }
}

impl ClassifierAdapter {
    /// Logits `[1, labels]` of one example on `model` with this adapter.
    pub fn logits(&self, model: &Bert, e: &Encoded) -> Result<Tensor> {
        let hidden = model.forward_adapted(e, self, false)?.hidden;
        let features = model.pool_vector(self.pooling, e.ids.len())?.matmul(&hidden)?;
        features.matmul(&self.head_w.transpose()?)?.add(&self.head_b)
    }

    /// Labels with softmax scores, best first, at most `top_k` per text.
    pub async fn classify(&self, model: &Bert, texts: &[&str], top_k: Option<usize>, opt: crate::models::bert::EncodeOptions) -> Result<Vec<Vec<crate::models::bert::LabelScore>>> {
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            let e = model.encode(t, opt)?;
            let l = self.logits(model, &e)?.to_vec_f32().await?;
            let scores = crate::models::bert::softmax(&l);
            let labels = scores.into_iter().enumerate().map(|(j, s)| crate::models::bert::LabelScore { label: self.labels[j].clone(), score: s }).collect();
            out.push(crate::models::bert::ranked(labels, top_k));
        }
        Ok(out)
    }
}

impl crate::models::bert::Layer {
    /// q, k, v, o, up, down, in the order of `paths`.
    pub(crate) fn linears(&self) -> [&crate::models::nn::Linear; 6] {
        [&self.q, &self.k, &self.v, &self.o, &self.up, &self.down]
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
        let hidden = self.model.forward_adapted(e, &self.adapter, false)?.hidden;
        let f = self.model.pool_vector(self.adapter.pooling, e.ids.len())?.matmul(&hidden)?;
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

    /// The batch's mean loss and the gradients of every trainable tensor.
    fn gradients(&mut self, batch: &[Example]) -> Result<(Tensor, Grads)> {
        self.check_labels(batch)?;
        let inv_b = 1.0 / batch.len() as f32;
        let mut grads = Grads::new();
        let mut loss: Option<Tensor> = None;
        let (hw, hb) = (format!("{PEFT_PREFIX}{HEAD}.weight"), format!("{PEFT_PREFIX}{HEAD}.bias"));
        let scale = self.adapter.scale();
        let heads = self.model.config.heads;
        let attn_scale = 1.0 / ((self.model.config.hidden / heads) as f32).sqrt();
        for ex in batch {
            let tape_needed = self.adapter.has_lora();
            let (features, fwd) = if tape_needed {
                let fwd = self.model.forward_adapted(&ex.encoded, &self.adapter, true)?;
                let pool = self.model.pool_vector(self.adapter.pooling, ex.encoded.ids.len())?;
                (pool.matmul(&fwd.hidden)?, Some((fwd, pool)))
            } else {
                (self.frozen_features(&ex.encoded)?, None)
            };
            let logits = features.matmul(&self.adapter.head_w.transpose()?)?.add(&self.adapter.head_b)?;
            let (l, dlogits) = logits.cross_entropy(&[ex.label as i64], inv_b)?;
            let l = l.scale(inv_b)?;
            loss = Some(match loss {
                Some(acc) => acc.add(&l)?,
                None => l,
            });
            accumulate(&mut grads, hw.clone(), dlogits.transpose()?.matmul(&features)?)?;
            accumulate(&mut grads, hb.clone(), dlogits.reshape(&[self.adapter.labels.len()])?)?;
            let Some((fwd, pool)) = fwd else { continue };
            // Into the encoder: d features -> d hidden (the pooling's transpose).
            let dfeat = dlogits.matmul(&self.adapter.head_w)?;
            let mut dx = pool.transpose()?.matmul(&dfeat)?;
            let lowest = self.lowest_adapted_layer();
            let mut tapes = fwd.layers;
            for (li, layer) in self.model.layers.iter().enumerate().rev() {
                let tape = tapes.pop().expect("one tape per layer");
                let need_below = li > lowest;
                let lora_of = |i: usize| self.adapter.adapter(&layer.paths[i]);
                let put = |i: usize, g, grads: &mut Grads| accumulate_lora(grads, &layer.paths[i], g);
                // x = ln2(h2), h2 = down(act(up(x1))) + x1, x1 = ln1(h1), h1 = o(attn) + x_in.
                let (dh2, _, _) = tape.h2.layer_norm_backward(&layer.ln2.gamma, &dx, layer.ln2.eps)?;
                let (dact, g) = lora::backward(&layer.down, lora_of(5), scale, tape.down, &dh2, true)?;
                put(5, g, &mut grads)?;
                let dpre = tape.pre_act.act_backward(&dact.expect("asked for dx"), self.model.act())?;
                let (dx1_up, g) = lora::backward(&layer.up, lora_of(4), scale, tape.up, &dpre, true)?;
                put(4, g, &mut grads)?;
                let dx1 = dh2.add(&dx1_up.expect("asked for dx"))?;
                let (dh1, _, _) = tape.h1.layer_norm_backward(&layer.ln1.gamma, &dx1, layer.ln1.eps)?;
                let (da, g) = lora::backward(&layer.o, lora_of(3), scale, tape.o, &dh1, true)?;
                put(3, g, &mut grads)?;
                // Attention: out = P · V, P = softmax(Q · Kᵀ · s).
                let dout = da.expect("asked for dx").split_heads(heads)?;
                let dvh = tape.probs.transpose()?.matmul(&dout)?;
                let dprobs = dout.matmul(&tape.vh.transpose()?)?;
                let dscores = tape.probs.softmax_backward(&dprobs)?.scale(attn_scale)?;
                let dqh = dscores.matmul(&tape.kh)?;
                let dkh = dscores.transpose()?.matmul(&tape.qh)?;
                let mut next = if need_below { Some(dh1) } else { None };
                for (i, saved, d) in [(0, tape.q, dqh), (1, tape.k, dkh), (2, tape.v, dvh)] {
                    let (dxi, g) = lora::backward(layer.linears()[i], lora_of(i), scale, saved, &d.merge_heads()?, need_below)?;
                    put(i, g, &mut grads)?;
                    if let (Some(acc), Some(dxi)) = (next.take(), dxi) {
                        next = Some(acc.add(&dxi)?);
                    }
                }
                match next {
                    Some(n) => dx = n,
                    None => break,
                }
            }
        }
        Ok((loss.expect("a non-empty batch"), grads))
    }

    /// The lowest layer with an adapter: backpropagation stops there.
    fn lowest_adapted_layer(&self) -> usize {
        self.model.layers.iter().position(|l| l.paths.iter().any(|p| self.adapter.adapter(p).is_some())).unwrap_or(self.model.layers.len())
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
