//! Dispatch of the decoder kernels: rotary embedding (`shaders/rope.wgsl`),
//! causal attention over a KV cache (`shaders/decoder.wgsl`: prefill, and
//! decode split over the cached length then reduced) and the next-token
//! kernels (`shaders/sample.wgsl`: repetition penalty, argmax).

use super::kernels::{Kernel, Shader};
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

/// `x [T, H·D]` rotated by the angles whose cosines and sines are `cos`,
/// `sin` (`[T, D/2]` each, uploaded once per forward pass).
pub(crate) fn rope(x: &GpuView, t: usize, heads: usize, head_dim: usize, cos: &GpuView, sin: &GpuView) -> Result<GpuView> {
    let gpu = x.gpu();
    let n = t * heads * head_dim;
    let out = gpu.alloc(n, DType::F32)?;
    let half = head_dim / 2;
    let params = [to_u32("T", t)?, to_u32("D/2", half)?, to_u32("heads", heads)?, 0];
    let k = Kernel::new(Shader::Rope, "rope").with("WG", ROPE_WG);
    let bufs = [(1, x.buffer()), (2, cos.buffer()), (3, sin.buffer()), (4, out.buffer())];
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
    fn params(&self, splits: usize, split: usize) -> Result<[u32; 12]> {
        let d = self.head_dim;
        let scale = 1.0 / (d as f32).sqrt();
        Ok([
            to_u32("T", self.t)?,
            to_u32("D", d / 4)?,
            to_u32("heads", self.heads)?,
            to_u32("group", self.heads / self.kv_heads)?,
            to_u32("width", self.heads * d / 4)?,
            to_u32("kv width", self.kv_heads * d / 4)?,
            to_u32("position", self.p0)?,
            scale.to_bits(),
            to_u32("splits", splits)?,
            to_u32("split", split)?,
            0,
            0,
        ])
    }
}

/// Causal attention of `q [T, H·D]` (contiguous) over the caches `k`, `v`
/// (`[capacity, KVH·D]`, rows `0 .. p0 + T` written). Out `[T, H·D]`.
pub(crate) fn causal_attention(q: &GpuView, k: &GpuView, v: &GpuView, c: Causal) -> Result<GpuView> {
    let gpu = q.gpu();
    let d = c.head_dim;
    if d % 4 != 0 || d > MAX_HEAD || c.kv_heads == 0 || c.heads % c.kv_heads != 0 {
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
    let bufs = [(1, q.buffer()), (2, k.buffer()), (3, v.buffer()), (4, partial.buffer()), (5, stats.buffer())];
    if c.t > 1 {
        let kernel = Kernel::new(Shader::Decoder, "prefill").with("WG", ATTN_WG);
        gpu.dispatch(&kernel, &params, &bufs, [to_u32("T", c.t)?.div_ceil(ATTN_WG), heads, to_u32("splits", splits)?])?;
    } else {
        let kernel = Kernel::new(Shader::Decoder, "decode_split").with("WG", ATTN_WG);
        gpu.dispatch(&kernel, &params, &bufs, [to_u32("splits", splits)?, heads, 1])?;
    }
    if !direct {
        let reduce = Kernel::new(Shader::Decoder, "reduce").with("WG", ATTN_WG);
        let bufs = [(1, partial.buffer()), (4, out.buffer()), (5, stats.buffer())];
        gpu.dispatch(&reduce, &params, &bufs, grid(&gpu, (c.t * width / 4).div_ceil(ATTN_WG as usize))?)?;
    }
    Ok(out)
}

/// Applies the repetition penalty to the contiguous `[V]` logits in place
/// for each of the distinct ids `seen`, then returns the argmax's id.
pub(crate) fn penalized_argmax(logits: &GpuView, vocab: usize, seen: &[u32], penalty: f32) -> Result<GpuView> {
    let gpu = logits.gpu();
    if logits.offset != 0 {
        return Err(Error::InvalidArgument("argmax: the logits must start their buffer".into()));
    }
    if penalty != 1.0 && !seen.is_empty() {
        let ids = gpu.upload(bytemuck::cast_slice(seen), DType::F32, seen.len())?;
        let k = Kernel::new(Shader::Sample, "penalize").with("WG", SAMPLE_WG);
        let params = [to_u32("ids", seen.len())?, penalty.to_bits(), 0, 0];
        gpu.dispatch(&k, &params, &[(1, logits.buffer()), (2, ids.buffer())], [to_u32("ids", seen.len())?.div_ceil(SAMPLE_WG), 1, 1])?;
    }
    let best = gpu.alloc(1, DType::F32)?;
    let k = Kernel::new(Shader::Sample, "argmax").with("WG", SAMPLE_WG);
    gpu.dispatch(&k, &[to_u32("vocab", vocab)?, 0, 0, 0], &[(1, logits.buffer()), (3, best.buffer())], [1, 1, 1])?;
    Ok(best)
}
