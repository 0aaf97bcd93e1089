//! LoRA fine-tuning of a Llama-family decoder with next-token loss: the
//! mean cross-entropy over every target token of the batch (transformers'
//! causal-LM loss), where the prompt part of a `{prompt, completion}` pair is
//! not a target.
//!
//! As for encoders, each example runs alone (no padding), keeping one
//! layer's activations per layer for its backward, dropped layer by layer;
//! backpropagation stops at the lowest adapted layer.

use crate::error::{Error, Result};
use crate::models::decoder::Decoder;
use crate::models::llama::{DecoderHooks, DecoderKept, Layer, Llama};
use crate::models::Proj;
use crate::ops::backward::AdamW;
use crate::ops::decoder::RopeTable;
use crate::ops::tensor::Tensor;
use crate::train::backward::{attention_backward, attention_forward, sum_input_grads, swiglu_backward, take_saved, AttentionActs};
use crate::train::lora::{self, LoraConfig, LoraSet, Rng, Saved};
use crate::train::optim::{accumulate_lora, Grads, Optimizer, StepReport};

/// Label of a token that is not a target (transformers' `ignore_index`).
pub const IGNORE: i64 = -100;

/// One training text as token ids, with `labels[i]` the id expected at
/// position `i` (or [`IGNORE`]); position `i` predicts `labels[i + 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TextExample {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
}

impl TextExample {
    /// Targets of each position: `labels` shifted left by one, the last ignored.
    fn targets(&self) -> Vec<i64> {
        let mut t: Vec<i64> = self.labels.iter().skip(1).copied().collect();
        t.push(IGNORE);
        t
    }

    fn count(&self) -> usize {
        self.labels.iter().skip(1).filter(|&&l| l != IGNORE).count()
    }
}

impl Decoder {
    /// A `{prompt, completion}` pair: the prompt's tokens (with the special
    /// tokens the tokenizer adds) not targets, the completion's tokens (none
    /// added) and an end-of-sequence token targets. `max_tokens` cuts the
    /// end (the second value says whether it did).
    pub fn completion_example(&self, prompt: &str, completion: &str, max_tokens: usize) -> Result<(TextExample, bool)> {
        let p = self.encode(prompt)?;
        let mut c = self.tokenizer().encode_plain(completion)?;
        c.extend(self.info.eos.first());
        let labels: Vec<i64> = p.iter().map(|_| IGNORE).chain(c.iter().map(|&i| i as i64)).collect();
        let ids: Vec<u32> = p.into_iter().chain(c).collect();
        Ok(cut(TextExample { ids, labels }, max_tokens))
    }

    /// A plain text: every token a target (but a leading BOS the tokenizer adds), then end of sequence.
    pub fn text_example(&self, text: &str, max_tokens: usize) -> Result<(TextExample, bool)> {
        let mut ids = self.encode(text)?;
        let plain = self.tokenizer().encode_plain(text)?;
        let added = ids.len().saturating_sub(plain.len());
        ids.extend(self.info.eos.first());
        let labels = ids.iter().enumerate().map(|(i, &id)| if i < added { IGNORE } else { id as i64 }).collect();
        Ok(cut(TextExample { ids, labels }, max_tokens))
    }
}

fn cut(mut e: TextExample, max: usize) -> (TextExample, bool) {
    let cut = e.ids.len() > max;
    e.ids.truncate(max);
    e.labels.truncate(max);
    (e, cut)
}

/// One layer's activations, kept for its backward.
struct LayerTape {
    x_in: Tensor,
    q: Saved,
    k: Saved,
    v: Saved,
    /// `[heads, T, D]` after rope, KV heads repeated, and `[heads, T, T]` probabilities.
    attn: AttentionActs,
    o: Saved,
    /// The second norm's input.
    h1: Tensor,
    gate: Saved,
    up: Saved,
    /// Gate and up outputs (SwiGLU: `silu(g) · u`).
    g: Tensor,
    u: Tensor,
    down: Saved,
}

/// Training hooks for [`Layer::forward`]: each projection through its LoRA
/// adapter (keeping its input), causal attention materialized over the whole
/// sequence (KV heads repeated; the heads and probabilities kept), and the
/// residuals and SwiGLU inputs kept.
struct Recording<'a> {
    lora: &'a LoraSet,
    scale: f32,
    heads: usize,
    kv_heads: usize,
    /// Query heads per KV head.
    rep: usize,
    attn_scale: f32,
    /// `[T, T]` causal mask.
    mask: &'a Tensor,
    /// Whether to keep anything (false when only logits are wanted).
    keep: bool,
    layer: Partial,
}

/// A [`LayerTape`] as the forward fills it.
#[derive(Default)]
struct Partial {
    saved: Vec<(Proj, Saved)>,
    attn: Option<AttentionActs>,
    x_in: Option<Tensor>,
    h1: Option<Tensor>,
    g: Option<Tensor>,
    u: Option<Tensor>,
}

impl Partial {
    fn finish(mut self) -> Result<LayerTape> {
        let mut take = |p: Proj| take_saved(&mut self.saved, p);
        let (q, k, v, o) = (take(Proj::Q)?, take(Proj::K)?, take(Proj::V)?, take(Proj::O)?);
        let (gate, up, down) = (take(Proj::Gate)?, take(Proj::Up)?, take(Proj::Down)?);
        let missing = |what: &str| Error::InvalidArgument(format!("fine-tuning: the layer kept no {what}"));
        Ok(LayerTape {
            x_in: self.x_in.ok_or_else(|| missing("input"))?,
            q,
            k,
            v,
            attn: self.attn.ok_or_else(|| missing("attention"))?,
            o,
            h1: self.h1.ok_or_else(|| missing("h1"))?,
            gate,
            up,
            g: self.g.ok_or_else(|| missing("gate output"))?,
            u: self.u.ok_or_else(|| missing("up output"))?,
            down,
        })
    }
}

impl DecoderHooks for Recording<'_> {
    fn project(&mut self, layer: &Layer, p: Proj, x: &Tensor) -> Result<Tensor> {
        let (y, saved) = lora::forward(layer.linear(p), self.lora.get(layer.path(p)), self.scale, x)?;
        if self.keep {
            self.layer.saved.push((p, saved));
        }
        Ok(y)
    }

    fn attend(&mut self, _i: usize, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let qh = q.split_heads(self.heads)?;
        let kh = k.split_heads(self.kv_heads)?.repeat_heads(self.rep)?;
        let vh = v.split_heads(self.kv_heads)?.repeat_heads(self.rep)?;
        let (a, acts) = attention_forward(qh, kh, vh, Some(self.mask), self.attn_scale)?;
        if self.keep {
            self.layer.attn = Some(acts);
        }
        a.merge_heads()
    }

    fn keep(&mut self, what: DecoderKept, t: &Tensor) {
        if !self.keep {
            return;
        }
        let slot = match what {
            DecoderKept::Input => &mut self.layer.x_in,
            DecoderKept::AttentionResidual => &mut self.layer.h1,
            DecoderKept::Gate => &mut self.layer.g,
            DecoderKept::Up => &mut self.layer.u,
        };
        *slot = Some(t.clone());
    }
}

/// Trains LoRA adapters on a frozen Llama-family decoder.
pub struct LoraTrainer<'m> {
    model: &'m Decoder,
    net: &'m Llama,
    pub lora: LoraSet,
    pub optimizer: Optimizer,
    /// The gradients of the last step, before clipping, by PEFT name.
    pub last_grads: Grads,
}

/// `[T, T]`: 0 where a query may see a key (key ≤ query), a large negative number elsewhere.
fn causal_mask(device: &crate::ops::tensor::Device, t: usize) -> Result<Tensor> {
    let m: Vec<f32> = (0..t * t).map(|i| if i % t <= i / t { 0.0 } else { -1e30 }).collect();
    Tensor::from_f32(device, &m, &[t, t])
}

impl<'m> LoraTrainer<'m> {
    /// Fresh adapters (PEFT's init, seeded) on the layers `config` targets.
    pub fn new(model: &'m Decoder, config: LoraConfig, seed: u64, opt: AdamW, max_grad_norm: Option<f32>) -> Result<LoraTrainer<'m>> {
        let net = model.llama().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "LoRA fine-tuning supports Llama-family decoders (llama, mistral, qwen2); this model is {:?}",
                model.info.model_type
            ))
        })?;
        // Training differentiates the base alone: no loaded adapter may sit in its layers.
        model.set_adapter(None, false)?;
        let layers = net.layers.iter().flat_map(|l| l.projections().map(|(_, p, lin)| (p, lin)));
        let lora = LoraSet::new(model.device(), config, layers, &mut Rng::new(seed))?;
        Ok(LoraTrainer { model, net, lora, optimizer: Optimizer::new(opt, max_grad_norm), last_grads: Grads::new() })
    }

    pub fn model(&self) -> &'m Decoder {
        self.model
    }

    /// Logits `[T, V]` at every position of `ids` with the adapters.
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let (x, _, _) = self.forward(ids, false)?;
        self.net.lm_head.forward(&x.rms_norm(&self.net.norm, self.net.config.eps)?)
    }

    /// The last hidden state before the final norm `[T, H]`, the layers' tapes when `tape`, and the rope table.
    fn forward(&self, ids: &[u32], tape: bool) -> Result<(Tensor, Vec<LayerTape>, RopeTable)> {
        let c = &self.net.config;
        let device = self.model.device();
        let t = ids.len();
        if t == 0 {
            return Err(Error::InvalidArgument("fine-tuning: an example has no tokens".into()));
        }
        if t > self.model.info.max_positions {
            return Err(Error::InvalidArgument(format!(
                "fine-tuning: an example of {t} tokens is longer than the model's {} positions",
                self.model.info.max_positions
            )));
        }
        let table = RopeTable::new(device, &self.net.inv_freq, 0, t)?;
        let mask = causal_mask(device, t)?;
        let (scale, rep) = (self.lora.scale(), c.heads / c.kv_heads);
        let attn_scale = 1.0 / (c.head_dim as f32).sqrt();
        let mut x = self.net.embed.forward(device, ids)?;
        let mut tapes = Vec::new();
        for (i, l) in self.net.layers.iter().enumerate() {
            let mut rec = Recording {
                lora: &self.lora,
                scale,
                heads: c.heads,
                kv_heads: c.kv_heads,
                rep,
                attn_scale,
                mask: &mask,
                keep: tape,
                layer: Partial::default(),
            };
            x = l.forward(i, &x, &table, c, &mut rec)?;
            if tape {
                tapes.push(rec.layer.finish()?);
            }
        }
        Ok((x, tapes, table))
    }

    fn lowest_adapted_layer(&self) -> usize {
        self.net.layers.iter().position(|l| l.projections().any(|(_, p, _)| self.lora.get(p).is_some())).unwrap_or(self.net.layers.len())
    }

    /// The batch's mean loss over its target tokens, and the adapters' gradients.
    fn gradients(&self, batch: &[TextExample]) -> Result<(Tensor, Grads)> {
        let total: usize = batch.iter().map(TextExample::count).sum();
        if total == 0 {
            return Err(Error::InvalidArgument("fine-tuning: the batch has no target tokens (every completion is empty or cut off)".into()));
        }
        let c = &self.net.config;
        let (scale, rep, heads, kvh) = (self.lora.scale(), c.heads / c.kv_heads, c.heads, c.kv_heads);
        let attn_scale = 1.0 / (c.head_dim as f32).sqrt();
        let inv = 1.0 / total as f32;
        let lowest = self.lowest_adapted_layer();
        let mut grads = Grads::new();
        let mut loss: Option<Tensor> = None;
        for ex in batch {
            if ex.labels.len() != ex.ids.len() {
                return Err(Error::InvalidArgument(format!("fine-tuning: {} labels for {} tokens", ex.labels.len(), ex.ids.len())));
            }
            if ex.count() == 0 {
                continue;
            }
            let (x, mut tapes, table) = self.forward(&ex.ids, true)?;
            let table = table.inverse()?;
            let xf = x.rms_norm(&self.net.norm, c.eps)?;
            let logits = self.net.lm_head.forward(&xf)?;
            let (rows, dlogits) = logits.cross_entropy(&ex.targets(), inv)?;
            let l = rows.reshape(&[ex.ids.len(), 1])?.sum_rows()?.scale(inv)?;
            loss = Some(match loss {
                Some(acc) => acc.add(&l)?,
                None => l,
            });
            let dxf = self.net.lm_head.input_grad(&dlogits)?;
            let mut dx = x.norm_input_grad(&self.net.norm, &dxf, c.eps, true)?;
            for (li, l) in self.net.layers.iter().enumerate().rev() {
                let tape = tapes.pop().expect("one tape per layer");
                let ad = |p: Proj| self.lora.get(l.path(p));
                let put = |p: Proj, g, grads: &mut Grads| accumulate_lora(grads, l.path(p), g);
                // x_out = h1 + down(silu(gate(n2)) · up(n2)), n2 = rms(h1).
                let (dact, g) = lora::backward(&l.down, ad(Proj::Down), scale, tape.down, &dx, true)?;
                put(Proj::Down, g, &mut grads)?;
                let dact = dact.expect("asked for dx");
                let (dg, du) = swiglu_backward(&tape.g, &tape.u, &dact)?;
                let (dn2g, g) = lora::backward(&l.gate, ad(Proj::Gate), scale, tape.gate, &dg, true)?;
                put(Proj::Gate, g, &mut grads)?;
                let (dn2u, g) = lora::backward(&l.up, ad(Proj::Up), scale, tape.up, &du, true)?;
                put(Proj::Up, g, &mut grads)?;
                let dn2 = sum_input_grads([dn2g, dn2u])?.expect("asked for dx");
                let dh1 = dx.add(&tape.h1.norm_input_grad(&l.ln2, &dn2, c.eps, true)?)?;
                // h1 = x_in + o(attention(rope(q(n1)), rope(k(n1)), v(n1))), n1 = rms(x_in).
                let (da, g) = lora::backward(&l.o, ad(Proj::O), scale, tape.o, &dh1, true)?;
                put(Proj::O, g, &mut grads)?;
                let dout = da.expect("asked for dx").split_heads(heads)?;
                let (dqh, dkh, dvh) = attention_backward(&tape.attn, &dout, attn_scale)?;
                let dq = dqh.merge_heads()?.rope(&table, heads)?;
                let dk = dkh.sum_head_groups(rep)?.merge_heads()?.rope(&table, kvh)?;
                let dv = dvh.sum_head_groups(rep)?.merge_heads()?;
                let need_below = li > lowest;
                let mut parts = Vec::with_capacity(3);
                for (i, saved, d) in [(Proj::Q, tape.q, dq), (Proj::K, tape.k, dk), (Proj::V, tape.v, dv)] {
                    let (dxi, g) = lora::backward(l.linear(i), ad(i), scale, saved, &d, need_below)?;
                    put(i, g, &mut grads)?;
                    parts.push(dxi);
                }
                match sum_input_grads(parts)? {
                    Some(dn1) => dx = dh1.add(&tape.x_in.norm_input_grad(&l.ln1, &dn1, c.eps, true)?)?,
                    None => break,
                }
            }
        }
        Ok((loss.expect("at least one example with targets"), grads))
    }

    /// One optimizer step on `batch` at learning rate `lr`.
    pub async fn step(&mut self, batch: &[TextExample], lr: f64) -> Result<StepReport> {
        let (loss, grads) = self.gradients(batch)?;
        let params = self.lora.params();
        let lora = &mut self.lora;
        let report = self.optimizer.step(&loss, &grads, params, lr, |name, t| lora.set(name, t)).await?;
        self.last_grads = grads;
        Ok(report)
    }

    /// The mean loss over the target tokens of `examples` with the adapters as they are.
    pub async fn eval_loss(&self, examples: &[TextExample]) -> Result<f32> {
        let total: usize = examples.iter().map(TextExample::count).sum();
        if total == 0 {
            return Err(Error::InvalidArgument("evaluation: no target tokens".into()));
        }
        let mut sum: Option<Tensor> = None;
        for ex in examples.iter().filter(|e| e.count() > 0) {
            let (rows, _) = self.logits(&ex.ids)?.cross_entropy(&ex.targets(), 1.0)?;
            let s = rows.reshape(&[ex.ids.len(), 1])?.sum_rows()?;
            sum = Some(match sum {
                Some(acc) => acc.add(&s)?,
                None => s,
            });
        }
        Ok(sum.expect("an example with targets").to_vec_f32().await?[0] / total as f32)
    }
}
