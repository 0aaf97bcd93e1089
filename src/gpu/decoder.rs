//! Dispatch of the decoder kernels: rotary embedding (`shaders/rope.wgsl`),
//! causal attention over a KV cache (`shaders/decoder.wgsl`: prefill, and
//! decode split over the cached length then reduced) and the next-token
//! kernels (`shaders/sample.wgsl`: repetition penalty, argmax).

use super::kernels::{decoder as bind_dec, rope as bind_rope, sample, uniform, Entry, Kernel};
use super::ops::{grid, to_u32};
use super::GpuView;
use crate::error::{Error, Result};
use crate::kinds::DType;

/// Workgroup size of the rope kernel.
const ROPE_WG: u32 = 64;
/// Queries per workgroup in prefill; keys per split in decode (a power of two, ≤ 256).
const ATTN_WG: u32 = 64;
/// Workgroup size of the argmax and penalty kernels (≤ 256, a power of two).
const SAMPLE_WG: u32 = 256;
/// Keys per split in prefill (a multiple of the kernel's TILE, 16): bounds
/// one invocation's loop (see `shaders/decoder.wgsl` on lavapipe).
const PREFILL_SPLIT: usize = 256;
/// Largest head size the attention kernels hold in registers (`4 * MAX_D4`).
pub(crate) const MAX_HEAD: usize = 128;

uniform! {
    /// rope.wgsl: rows, D / 2, heads per row.
    RopeParams { t: u32, half: u32, heads: u32, _pad: u32 }
}

uniform! {
    /// decoder.wgsl: sizes in vec4s where named so, the first new position, the key splits.
    CausalParams {
        t: u32, d4: u32, heads: u32, group: u32, q_ld: u32, kv_ld: u32, p0: u32, scale: f32,
        splits: u32, split: u32, _pad0: u32, _pad1: u32,
    }
}

uniform! {
    /// sample.wgsl: distinct ids (penalize) or V (argmax), and the penalty.
    SampleParams { n: u32, penalty: f32, _pad0: u32, _pad1: u32 }
}

/// `x [T, H·D]` rotated by the angles whose cosines and sines are `cos`,
/// `sin` (`[T, D/2]` each, uploaded once per forward pass).
pub(crate) fn rope(x: &GpuView, t: usize, heads: usize, head_dim: usize, cos: &GpuView, sin: &GpuView) -> Result<GpuView> {
    let gpu = x.gpu();
    let n = t * heads * head_dim;
    let out = gpu.alloc(n, DType::F32)?;
    let half = head_dim / 2;
    let params = RopeParams { t: to_u32("T", t)?, half: to_u32("D/2", half)?, heads: to_u32("heads", heads)?, _pad: 0 };
    let k = Kernel::new(Entry::Rope).with("WG", ROPE_WG);
    let bufs = [(bind_rope::RX, x), (bind_rope::COS_T, cos), (bind_rope::SIN_T, sin), (bind_rope::RY, &out)];
    if x.offset != 0 || cos.offset != 0 || sin.offset != 0 {
        return Err(Error::InvalidArgument("rope: operands must start their buffers".into()));
    }
    gpu.dispatch(&k, &params, &bufs, grid(&gpu, (t * heads * half).div_ceil(ROPE_WG as usize))?)?;
    Ok(out)
}

/// Shapes of one causal attention call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Causal {
    /// New queries.
    pub t: usize,
    /// Position of the first new query (keys `0 .. p0 + t` are cached).
    pub p0: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Causal {
    fn params(&self, splits: usize, split: usize) -> Result<CausalParams> {
        let d = self.head_dim;
        Ok(CausalParams {
            t: to_u32("T", self.t)?,
            d4: to_u32("D", d / 4)?,
            heads: to_u32("heads", self.heads)?,
            group: to_u32("group", self.heads / self.kv_heads)?,
            q_ld: to_u32("width", self.heads * d / 4)?,
            kv_ld: to_u32("kv width", self.kv_heads * d / 4)?,
            p0: to_u32("position", self.p0)?,
            scale: 1.0 / (d as f32).sqrt(),
            splits: to_u32("splits", splits)?,
            split: to_u32("split", split)?,
            ..Default::default()
        })
    }
}

/// Causal attention of `q [T, H·D]` (contiguous) over the caches `k`, `v`
/// (`[capacity, KVH·D]`, rows `0 .. p0 + T` written). Out `[T, H·D]`.
pub(crate) fn causal_attention(q: &GpuView, k: &GpuView, v: &GpuView, c: Causal) -> Result<GpuView> {
    let gpu = q.gpu();
    let d = c.head_dim;
    if !d.is_multiple_of(4) || d > MAX_HEAD || c.kv_heads == 0 || !c.heads.is_multiple_of(c.kv_heads) {
        return Err(Error::InvalidArgument(format!(
            "attention: head size {d} must be a multiple of 4 and at most {MAX_HEAD}, and {} heads a multiple of {} KV heads",
            c.heads, c.kv_heads
        )));
    }
    if q.offset != 0 || k.offset != 0 || v.offset != 0 {
        return Err(Error::InvalidArgument("attention: operands must start their buffers".into()));
    }
    let width = c.heads * d;
    let out = gpu.alloc(c.t * width, DType::F32)?;
    if c.t == 0 {
        return Ok(out);
    }
    let heads = to_u32("heads", c.heads)?;
    let len = c.p0 + c.t;
    // Prefill: WG queries per workgroup, keys in splits of PREFILL_SPLIT.
    // Decode: one query, one key per invocation, splits of ATTN_WG keys.
    let (splits, split) = if c.t > 1 { (len.div_ceil(PREFILL_SPLIT), PREFILL_SPLIT) } else { (len.div_ceil(ATTN_WG as usize), ATTN_WG as usize) };
    let params = c.params(splits, split)?;
    // One prefill split writes the result; otherwise partial sums then `reduce`.
    let direct = splits == 1 && c.t > 1;
    let (partial, stats) = if direct {
        (out.clone(), gpu.alloc(1, DType::F32)?)
    } else {
        (gpu.alloc(splits * c.t * width, DType::F32)?, gpu.alloc(splits * c.t * c.heads * 2, DType::F32)?)
    };
    let bufs = [(bind_dec::Q, q), (bind_dec::KC, k), (bind_dec::VC, v), (bind_dec::OUT, &partial), (bind_dec::STATS, &stats)];
    if c.t > 1 {
        let kernel = Kernel::new(Entry::Prefill).with("WG", ATTN_WG);
        gpu.dispatch(&kernel, &params, &bufs, [to_u32("T", c.t)?.div_ceil(ATTN_WG), heads, to_u32("splits", splits)?])?;
    } else {
        let kernel = Kernel::new(Entry::DecodeSplit).with("WG", ATTN_WG);
        gpu.dispatch(&kernel, &params, &bufs, [to_u32("splits", splits)?, heads, 1])?;
    }
    if !direct {
        let reduce = Kernel::new(Entry::Reduce).with("WG", ATTN_WG);
        // `reduce` reads the partial sums through q's binding.
        let bufs = [(bind_dec::Q, &partial), (bind_dec::OUT, &out), (bind_dec::STATS, &stats)];
        gpu.dispatch(&reduce, &params, &bufs, grid(&gpu, (c.t * width / 4).div_ceil(ATTN_WG as usize))?)?;
    }
    Ok(out)
}

/// Applies the repetition penalty to the contiguous `[V]` logits in place
/// for each of the distinct ids `seen`, then the allowed-token bitset `mask`
/// (constrained decoding: a cleared bit rules its token out), then returns
/// the argmax's id.
pub(crate) fn penalized_argmax(logits: &GpuView, vocab: usize, seen: &[u32], penalty: f32, mask: Option<&[u32]>) -> Result<GpuView> {
    let gpu = logits.gpu();
    if logits.offset != 0 {
        return Err(Error::InvalidArgument("argmax: the logits must start their buffer".into()));
    }
    if penalty != 1.0 && !seen.is_empty() {
        let ids = gpu.upload(bytemuck::cast_slice(seen), DType::F32, seen.len())?;
        let k = Kernel::new(Entry::Penalize).with("WG", SAMPLE_WG);
        let params = SampleParams { n: to_u32("ids", seen.len())?, penalty, ..Default::default() };
        gpu.dispatch(&k, &params, &[(sample::LOGITS, logits), (sample::SEEN, &ids)], [to_u32("ids", seen.len())?.div_ceil(SAMPLE_WG), 1, 1])?;
    }
    if let Some(bits) = mask {
        if bits.len() < vocab.div_ceil(32) {
            return Err(Error::InvalidArgument(format!("argmax: a mask of {} words for {vocab} logits", bits.len())));
        }
        let words = gpu.upload(bytemuck::cast_slice(bits), DType::F32, bits.len())?;
        let k = Kernel::new(Entry::Mask).with("WG", SAMPLE_WG);
        let params = SampleParams { n: to_u32("vocab", vocab)?, ..Default::default() };
        gpu.dispatch(&k, &params, &[(sample::LOGITS, logits), (sample::SEEN, &words)], [to_u32("vocab", vocab)?.div_ceil(SAMPLE_WG), 1, 1])?;
    }
    let best = gpu.alloc(1, DType::F32)?;
    let k = Kernel::new(Entry::Argmax).with("WG", SAMPLE_WG);
    let params = SampleParams { n: to_u32("vocab", vocab)?, ..Default::default() };
    gpu.dispatch(&k, &params, &[(sample::LOGITS, logits), (sample::BEST, &best)], [1, 1, 1])?;
    Ok(best)
}
