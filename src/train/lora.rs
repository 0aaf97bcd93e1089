//! LoRA on a frozen linear layer: `y = x · Wᵀ + b + s · (x · Aᵀ) · Bᵀ` with
//! `A [r, in]`, `B [out, r]`, `s = alpha / r` (PEFT's `lora_A`, `lora_B`,
//! `scaling`). The forward keeps what the backward needs; the backward gives
//! the input's gradient and `A`'s and `B`'s.

use crate::error::{Error, Result};
use crate::nn::Linear;
use crate::ops::tensor::Tensor;

/// Which layers get adapters, and their size.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    /// Module names as PEFT's `target_modules`: a layer is targeted when its
    /// checkpoint path equals one or ends with `.` + one (`"query"` targets
    /// `bert.encoder.layer.0.attention.self.query`).
    pub targets: Vec<String>,
}

impl LoraConfig {
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    pub fn targets(&self, path: &str) -> bool {
        self.targets.iter().any(|t| path == t || path.ends_with(&format!(".{t}")))
    }

    pub fn check(&self) -> Result<()> {
        if self.rank == 0 || self.rank > 256 {
            return Err(Error::InvalidArgument(format!("LoRA rank {} must be between 1 and 256", self.rank)));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::InvalidArgument(format!("LoRA alpha {} must be a positive number", self.alpha)));
        }
        if self.targets.is_empty() {
            return Err(Error::InvalidArgument("LoRA needs at least one target module".into()));
        }
        Ok(())
    }
}

/// One adapter's weights.
#[derive(Clone)]
pub struct LoraWeights {
    /// `[r, in]`
    pub a: Tensor,
    /// `[out, r]`
    pub b: Tensor,
}

/// What a linear layer's backward needs from its forward.
pub struct Saved {
    x: Tensor,
    /// `x · Aᵀ`, when the layer has an adapter.
    u: Option<Tensor>,
}

/// `x [T, in] -> [T, out]` through the frozen layer and its adapter, if any.
pub fn forward(lin: &Linear, lora: Option<&LoraWeights>, scale: f32, x: &Tensor) -> Result<(Tensor, Saved)> {
    let y = lin.forward_base(x)?;
    match lora {
        None => Ok((y, Saved { x: x.clone(), u: None })),
        Some(l) => {
            let u = x.matmul(&l.a.transpose()?)?;
            let y = y.add(&u.matmul(&l.b.transpose()?)?.scale(scale)?)?;
            Ok((y, Saved { x: x.clone(), u: Some(u) }))
        }
    }
}

/// An adapter's gradients `(dA, dB)`.
pub type LoraGrads = (Tensor, Tensor);

/// Gradients of one layer: `dx` (when `need_dx`) and `(dA, dB)` (when it has an adapter).
pub fn backward(lin: &Linear, lora: Option<&LoraWeights>, scale: f32, saved: Saved, dy: &Tensor, need_dx: bool) -> Result<(Option<Tensor>, Option<LoraGrads>)> {
    let mut dx = if need_dx { Some(lin.input_grad(dy)?) } else { None };
    let grads = match (lora, saved.u) {
        (Some(l), Some(u)) => {
            // dB = s · dyᵀ · u;  du = s · dy · B;  dA = duᵀ · x;  dx += du · A.
            let db = dy.transpose()?.matmul(&u)?.scale(scale)?;
            let du = dy.matmul(&l.b)?.scale(scale)?;
            let da = du.transpose()?.matmul(&saved.x)?;
            if let Some(d) = dx.take() {
                dx = Some(d.add(&du.matmul(&l.a)?)?);
            }
            Some((da, db))
        }
        _ => None,
    };
    Ok((dx, grads))
}

/// SplitMix64: a small seeded generator for initial values.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[-bound, bound)`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound).collect()
    }
}

/// PEFT's name prefix for everything in an adapter file.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// The adapters of one model, by module path (`model.layers.0.self_attn.q_proj`).
#[derive(Clone)]
pub struct LoraSet {
    pub config: LoraConfig,
    pub adapters: std::collections::BTreeMap<String, LoraWeights>,
}

impl LoraSet {
    /// Fresh adapters on every targeted layer of `layers` (path, layer):
    /// `A` uniform in ±1/√in, `B` zero (PEFT's init: the adapted model
    /// starts equal to the base). An error lists the layer names when no
    /// target matches.
    pub fn new<'a>(
        device: &crate::ops::tensor::Device,
        config: LoraConfig,
        layers: impl IntoIterator<Item = (&'a str, &'a Linear)>,
        rng: &mut Rng,
    ) -> Result<LoraSet> {
        config.check()?;
        let mut adapters = std::collections::BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for (path, lin) in layers {
            names.insert(path.rsplit('.').next().unwrap_or(path).to_string());
            if config.targets(path) {
                let (out, inp, r) = (lin.out_features, lin.in_features, config.rank);
                let a = Tensor::from_f32(device, &rng.uniform(r * inp, 1.0 / (inp as f32).sqrt()), &[r, inp])?;
                let b = Tensor::from_f32(device, &vec![0.0; out * r], &[out, r])?;
                adapters.insert(path.to_string(), LoraWeights { a, b });
            }
        }
        if adapters.is_empty() {
            return Err(Error::InvalidArgument(format!("LoRA targets {:?} match no layer of this model (its layers are named {names:?})", config.targets)));
        }
        Ok(LoraSet { config, adapters })
    }

    pub fn scale(&self) -> f32 {
        self.config.scale()
    }

    pub fn get(&self, path: &str) -> Option<&LoraWeights> {
        self.adapters.get(path)
    }

    /// `(PEFT name, tensor)` of every `A` and `B`.
    pub fn params(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.adapters.len() * 2);
        for (path, w) in &self.adapters {
            out.push((format!("{PEFT_PREFIX}{path}.lora_A.weight"), w.a.clone()));
            out.push((format!("{PEFT_PREFIX}{path}.lora_B.weight"), w.b.clone()));
        }
        out
    }

    /// The tensor a PEFT name refers to.
    pub fn slot(&mut self, name: &str) -> Option<&mut Tensor> {
        let (path, which) = name.strip_prefix(PEFT_PREFIX)?.strip_suffix(".weight")?.rsplit_once('.')?;
        let w = self.adapters.get_mut(path)?;
        match which {
            "lora_A" => Some(&mut w.a),
            "lora_B" => Some(&mut w.b),
            _ => None,
        }
    }

    /// Replaces the tensor a PEFT name refers to; its shape must not change.
    pub fn set(&mut self, name: &str, t: Tensor) -> Result<()> {
        let slot = self.slot(name).ok_or_else(|| Error::InvalidArgument(format!("adapter: no tensor named {name}")))?;
        if slot.shape() != t.shape() {
            return Err(Error::shapes("adapter", slot.shape(), t.shape(), format!("{name} must keep its shape")));
        }
        *slot = t;
        Ok(())
    }

    /// The names of a layer's gradients: `(lora_A, lora_B)`.
    pub fn grad_names(path: &str) -> (String, String) {
        (format!("{PEFT_PREFIX}{path}.lora_A.weight"), format!("{PEFT_PREFIX}{path}.lora_B.weight"))
    }
}
