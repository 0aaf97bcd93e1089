//! Ops of decoder models: rotary position embedding, a KV cache with causal
//! grouped-query attention over it, and greedy next-token choice that reads
//! back one id. Each runs on the CPU (plain loops, the reference) and on the
//! GPU (`shaders/rope.wgsl`, `shaders/decoder.wgsl`, `shaders/sample.wgsl`).

use crate::error::{Error, Result};
use crate::gpu::decoder::{self as gpu_dec, Causal};
use crate::gpu::GpuView;
use crate::kinds::DType;
use crate::ops::tensor::{Device, Storage, Tensor};

/// How rotary angles are derived from `rope_theta` and `rope_scaling`.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (every frequency divided by it).
    Linear {
        factor: f32,
    },
    /// Llama 3.1: low frequencies divided by `factor`, high ones kept, a
    /// smooth blend between (wavelengths measured against the original context).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_max_positions: f32,
    },
}

/// The `D/2` inverse frequencies of a head of size `head_dim`, as
/// transformers computes them (in f32).
pub fn rope_inv_freq(head_dim: usize, theta: f32, scaling: &RopeScaling) -> Vec<f32> {
    let base: Vec<f32> = (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect();
    match *scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
        RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_positions } => {
            let low_wavelen = original_max_positions / low_freq_factor;
            let high_wavelen = original_max_positions / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f32::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (original_max_positions / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// Cosines and sines of the rotary angles of `t` positions from `p0`,
/// `[T, D/2]` each: angle = position × inverse frequency in f32 (as
/// transformers computes it), its cosine and sine rounded from f64.
pub struct RopeTable {
    t: usize,
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
    gpu: Option<(GpuView, GpuView)>,
}

impl RopeTable {
    pub fn new(device: &Device, inv_freq: &[f32], p0: usize, t: usize) -> Result<RopeTable> {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for pos in p0..p0 + t {
            for &f in inv_freq {
                let angle = (pos as f32 * f) as f64;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let gpu = match device {
            Device::Cpu => None,
            Device::Gpu(g) => {
                Some((g.upload(bytemuck::cast_slice(&cos), DType::F32, cos.len())?, g.upload(bytemuck::cast_slice(&sin), DType::F32, sin.len())?))
            }
        };
        Ok(RopeTable { t, half, cos, sin, gpu })
    }

    /// The inverse rotation (the sines negated): rope's backward.
    pub fn inverse(&self) -> Result<RopeTable> {
        let sin: Vec<f32> = self.sin.iter().map(|s| -s).collect();
        let gpu = match &self.gpu {
            None => None,
            Some((cos, _)) => {
                let g = cos.gpu();
                Some((cos.clone(), g.upload(bytemuck::cast_slice(&sin), DType::F32, sin.len())?))
            }
        };
        Ok(RopeTable { t: self.t, half: self.half, cos: self.cos.clone(), sin, gpu })
    }
}

/// A contiguous f32 GPU view of `x`, starting its buffer (as the kernels index it).
fn gpu_rows(x: &Tensor) -> Result<GpuView> {
    match &x.storage {
        Storage::Gpu(v) => crate::gpu::ops::contiguous_f32(v, &x.shape, x.dtype),
        Storage::Cpu(_) => Err(Error::DeviceMismatch { op: "decoder", lhs: "webgpu", rhs: "cpu" }),
    }
}

impl Tensor {
    /// Rotary embedding of `[T, H·D]` rows (rotate-half layout) at the
    /// positions of `table`.
    pub fn rope(&self, table: &RopeTable, heads: usize) -> Result<Tensor> {
        let [t, width] = *self.shape() else {
            return Err(Error::InvalidArgument(format!("rope: expected [T, H*D], got {:?}", self.shape())));
        };
        let half = table.half;
        if t != table.t || heads == 0 || width != heads * 2 * half {
            return Err(Error::InvalidArgument(format!(
                "rope: {:?} against a table of {} positions × {half} frequencies and {heads} heads",
                self.shape(),
                table.t
            )));
        }
        match &table.gpu {
            None => {
                let mut x = self.cpu_f32()?;
                for (row, chunk) in x.chunks_mut(width).enumerate() {
                    let (cos, sin) = (&table.cos[row * half..][..half], &table.sin[row * half..][..half]);
                    for head in chunk.chunks_mut(2 * half) {
                        let (a, b) = head.split_at_mut(half);
                        for i in 0..half {
                            let (x1, x2) = (a[i], b[i]);
                            a[i] = x1 * cos[i] - x2 * sin[i];
                            b[i] = x2 * cos[i] + x1 * sin[i];
                        }
                    }
                }
                Tensor::from_f32(&Device::Cpu, &x, &[t, width])
            }
            Some((cos, sin)) => Ok(Tensor::from_gpu(gpu_dec::rope(&gpu_rows(self)?, t, heads, 2 * half, cos, sin)?, vec![t, width])),
        }
    }
}

/// Keys and values of every layer for the positions seen so far, on the
/// model's device: `[capacity, KVH·D]` rows per layer and tensor.
pub struct KvCache {
    capacity: usize,
    width: usize,
    len: usize,
    layers: Vec<KvLayer>,
}

enum KvLayer {
    /// Rows appended as they come (no allocation up front).
    Cpu {
        k: Vec<f32>,
        v: Vec<f32>,
    },
    Gpu {
        k: GpuView,
        v: GpuView,
    },
}

impl KvCache {
    /// A cache for `layers` layers of `capacity` positions of `width` floats.
    /// On the GPU both tensors of every layer are allocated now, so a cache
    /// too large for the device fails here, with the sizes in the error.
    pub fn new(device: &Device, layers: usize, capacity: usize, width: usize) -> Result<KvCache> {
        let mut ls = Vec::with_capacity(layers);
        for _ in 0..layers {
            ls.push(match device {
                Device::Cpu => KvLayer::Cpu { k: Vec::new(), v: Vec::new() },
                Device::Gpu(g) => {
                    let alloc = || {
                        g.alloc(capacity * width, DType::F32).map_err(|e| match e {
                            Error::LimitExceeded { needed, limit, limit_name, .. } => Error::LimitExceeded {
                                what: format!("a KV cache of {capacity} positions × {width} floats per layer (lower maxNewTokens or the prompt)"),
                                needed,
                                limit_name,
                                limit,
                            },
                            e => e,
                        })
                    };
                    KvLayer::Gpu { k: alloc()?, v: alloc()? }
                }
            });
        }
        Ok(KvCache { capacity, width, len: 0, layers: ls })
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes the cache holds on its device (on the GPU, all of its capacity).
    pub fn bytes(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l {
                KvLayer::Cpu { k, v } => ((k.len() + v.len()) * 4) as u64,
                KvLayer::Gpu { .. } => (self.capacity * self.width * 8) as u64,
            })
            .sum()
    }

    /// Forgets positions from `len` on (a new prompt reuses the buffers).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        for l in &mut self.layers {
            if let KvLayer::Cpu { k, v } = l {
                k.truncate(self.len * self.width);
                v.truncate(self.len * self.width);
            }
        }
    }

    /// Marks `t` more positions as cached, once every layer has attended.
    pub fn advance(&mut self, t: usize) {
        self.len += t;
    }

    /// Appends the `T` new rows `k`, `v` (`[T, KVH·D]`) of `layer` at
    /// positions `len ..`, then computes causal attention of `q` (`[T, H·D]`)
    /// over positions `0 .. len + T`: query `i` sees keys up to `len + i`.
    /// Query head `h` reads KV head `h / (H / KVH)`. Out `[T, H·D]`.
    pub fn attend(&mut self, layer: usize, q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, kv_heads: usize) -> Result<Tensor> {
        let [t, qw] = *q.shape() else {
            return Err(Error::InvalidArgument(format!("attention: q must be [T, H*D], got {:?}", q.shape())));
        };
        if k.shape() != [t, self.width] || v.shape() != [t, self.width] {
            return Err(Error::shapes("attention", k.shape(), &[t, self.width], "k and v must be [T, KV heads × head size]"));
        }
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) || qw % heads != 0 || self.width != kv_heads * (qw / heads) {
            return Err(Error::InvalidArgument(format!(
                "attention: {heads} heads and {kv_heads} KV heads do not fit q {:?} and a cache of width {}",
                q.shape(),
                self.width
            )));
        }
        let p0 = self.len;
        if p0 + t > self.capacity {
            return Err(Error::InvalidArgument(format!("the KV cache holds {} positions; {p0} are used and {t} more were asked for", self.capacity)));
        }
        let layer_count = self.layers.len();
        let cache = self.layers.get_mut(layer).ok_or_else(|| Error::InvalidArgument(format!("attention: layer {layer} of {layer_count}")))?;
        let d = qw / heads;
        match cache {
            KvLayer::Cpu { k: kc, v: vc } => {
                kc.truncate(p0 * self.width);
                vc.truncate(p0 * self.width);
                kc.extend(k.cpu_f32()?);
                vc.extend(v.cpu_f32()?);
                let out = causal_cpu(&q.cpu_f32()?, kc, vc, Causal { t, p0, heads, kv_heads, head_dim: d });
                Tensor::from_f32(&Device::Cpu, &out, &[t, qw])
            }
            KvLayer::Gpu { k: kc, v: vc } => {
                let gpu = kc.gpu();
                gpu.copy_into(&gpu_rows(k)?, kc, p0 * self.width, t * self.width)?;
                gpu.copy_into(&gpu_rows(v)?, vc, p0 * self.width, t * self.width)?;
                let y = gpu_dec::causal_attention(&gpu_rows(q)?, kc, vc, Causal { t, p0, heads, kv_heads, head_dim: d })?;
                Ok(Tensor::from_gpu(y, vec![t, heads * d]))
            }
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four running sums, so that the loop vectorizes (simd128 in wasm).
    let mut acc = [0f32; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

/// Causal attention on the CPU: softmax(scale · q·kᵀ) · v per query and head.
pub(crate) fn causal_cpu(q: &[f32], kc: &[f32], vc: &[f32], c: Causal) -> Vec<f32> {
    let d = c.head_dim;
    let (width, kv_width, group) = (c.heads * d, c.kv_heads * d, c.heads / c.kv_heads);
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0f32; c.t * width];
    let mut scores = vec![0f32; c.p0 + c.t];
    for i in 0..c.t {
        let len = c.p0 + i + 1;
        for h in 0..c.heads {
            let col = (h / group) * d;
            let qh = &q[i * width + h * d..][..d];
            let mut m = f32::NEG_INFINITY;
            for (j, s) in scores[..len].iter_mut().enumerate() {
                *s = dot(qh, &kc[j * kv_width + col..][..d]) * scale;
                m = m.max(*s);
            }
            let mut l = 0f32;
            for s in &mut scores[..len] {
                *s = (*s - m).exp();
                l += *s;
            }
            let o = &mut out[i * width + h * d..][..d];
            for (j, &w) in scores[..len].iter().enumerate() {
                let w = w / l;
                for (a, &x) in o.iter_mut().zip(&vc[j * kv_width + col..][..d]) {
                    *a += w * x;
                }
            }
        }
    }
    out
}

/// The id of the largest of `logits` (`[1, V]`) after transformers'
/// repetition penalty on the distinct ids `seen` (a positive logit divided
/// by `penalty`, a negative one multiplied). On the GPU only the id is read back.
pub async fn greedy_token(logits: &Tensor, seen: &[u32], penalty: f32, mask: Option<&[u32]>) -> Result<u32> {
    let vocab = logits.numel();
    match &logits.storage {
        Storage::Cpu(_) => {
            let mut x = logits.cpu_f32()?;
            penalize(&mut x, seen, penalty);
            if let Some(bits) = mask {
                apply_mask(&mut x, bits);
            }
            Ok(argmax(&x))
        }
        Storage::Gpu(_) => {
            let best = gpu_dec::penalized_argmax(&gpu_rows(logits)?, vocab, seen, penalty, mask)?;
            let v = best.read_f32(1).await?;
            let id = v[0].to_bits();
            if id as usize >= vocab {
                return Err(Error::InvalidArgument(format!("argmax: no finite logit among {vocab} (the model produced NaN)")));
            }
            Ok(id)
        }
    }
}

/// Sets every logit the bitset does not allow (bit `i % 32` of word `i / 32`
/// for token `i`) to minus infinity: constrained decoding's mask.
pub fn apply_mask(logits: &mut [f32], bits: &[u32]) {
    for (i, x) in logits.iter_mut().enumerate() {
        if bits.get(i / 32).is_none_or(|w| w & (1 << (i % 32)) == 0) {
            *x = f32::NEG_INFINITY;
        }
    }
}

/// transformers' repetition penalty, in place, on each distinct id of `seen`.
pub fn penalize(logits: &mut [f32], seen: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    for &id in seen {
        if let Some(x) = logits.get_mut(id as usize) {
            *x = if *x > 0.0 { *x / penalty } else { *x * penalty };
        }
    }
}

/// The index of the largest value (the first among equals).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}
