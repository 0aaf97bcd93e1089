//! Plain reference implementations of every op: loops, f64 accumulation, no
//! SIMD, no tricks. The CPU backend is tested against these; the GPU backend
//! is tested against the CPU backend. Inputs are contiguous row-major.

use crate::kinds::numel;
use crate::ops::base::matmul_shape;

/// `[B.., M, K] x [B.., K, N]`, either side may lack the batch dims.
pub fn matmul(a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize]) -> Vec<f32> {
    let out = matmul_shape(a_shape, b_shape).expect("reference::matmul: shapes checked by the caller");
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let n = b_shape[b_shape.len() - 1];
    let batch = numel(&out[..out.len() - 2]);
    let a_bs = if a_shape.len() == 2 { 0 } else { m * k };
    let b_bs = if b_shape.len() == 2 { 0 } else { k * n };
    let mut c = vec![0f32; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for l in 0..k {
                    s += a[bi * a_bs + i * k + l] as f64 * b[bi * b_bs + l * n + j] as f64;
                }
                c[(bi * m + i) * n + j] = s as f32;
            }
        }
    }
    c
}

/// `x + y` with `y` repeated over `x` (its shape is a suffix of `x`'s).
pub fn add(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().enumerate().map(|(i, &v)| (v as f64 + y[i % y.len()] as f64) as f32).collect()
}

pub fn mul(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().enumerate().map(|(i, &v)| (v as f64 * y[i % y.len()] as f64) as f32).collect()
}

pub fn scale(x: &[f32], s: f32) -> Vec<f32> {
    x.iter().map(|&v| (v as f64 * s as f64) as f32).collect()
}

/// erf in f64: a Maclaurin series near 0, a continued fraction for erfc beyond.
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let r = if z < 2.5 {
        let (mut term, mut sum) = (z, z);
        for n in 1..200 {
            term *= -z * z / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut t = z;
        for n in (1..=80).rev() {
            t = z + (n as f64 / 2.0) / t;
        }
        1.0 - (-z * z).exp() / std::f64::consts::PI.sqrt() / t
    };
    r.copysign(x)
}

pub fn gelu(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let v = v as f64;
            (0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2))) as f32
        })
        .collect()
}

/// GELU, tanh approximation (GPT-2's `gelu_new`), in f64.
pub fn gelu_tanh(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let v = v as f64;
            let u = (2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v);
            (0.5 * v * (1.0 + u.tanh())) as f32
        })
        .collect()
}

pub fn silu(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| (v as f64 / (1.0 + (-(v as f64)).exp())) as f32).collect()
}

/// Softmax over rows of `cols`.
pub fn softmax(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks(cols)
        .flat_map(|row| {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / s) as f32)
        })
        .collect()
}

/// Layer norm over rows of `gamma.len()` (biased variance, as PyTorch).
pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> Vec<f32> {
    let c = gamma.len();
    x.chunks(c)
        .flat_map(|row| {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / c as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (var + eps as f64).sqrt();
            row.iter().enumerate().map(move |(j, &v)| ((v as f64 - mean) * inv * gamma[j] as f64 + beta[j] as f64) as f32)
        })
        .collect()
}

/// RMS norm over rows of `gamma.len()`.
pub fn rms_norm(x: &[f32], gamma: &[f32], eps: f32) -> Vec<f32> {
    let c = gamma.len();
    x.chunks(c)
        .flat_map(|row| {
            let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            row.iter().enumerate().map(move |(j, &v)| (v as f64 * inv * gamma[j] as f64) as f32)
        })
        .collect()
}

/// A transposed copy of the last two dims of a contiguous `[B.., R, C]`.
pub fn transpose(x: &[f32], shape: &[usize]) -> Vec<f32> {
    let (r, c) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let mut out = vec![0f32; x.len()];
    for (bi, block) in x.chunks(r * c.max(1)).enumerate() {
        for i in 0..r {
            for j in 0..c {
                out[bi * r * c + j * r + i] = block[i * c + j];
            }
        }
    }
    out
}

/// Encoder self-attention of `[B, T, H·D]` q, k, v: keys at positions
/// `>= lens[b]` masked; a text with no tokens attends to nothing (zeros).
pub fn encoder_attention(q: &[f32], k: &[f32], v: &[f32], lens: &[usize], t: usize, heads: usize, d: usize) -> Vec<f32> {
    let w = heads * d;
    let mut out = vec![0f32; q.len()];
    for (b, &len) in lens.iter().enumerate() {
        for h in 0..heads {
            for i in 0..t {
                let row = |j: usize| (b * t + j) * w + h * d;
                let keys: Vec<usize> = (0..len.min(t)).collect();
                attend(&q[row(i)..][..d], &keys, |j| &k[row(j)..][..d], |j| &v[row(j)..][..d], &mut out[row(i)..][..d]);
            }
        }
    }
    out
}

/// Causal attention with grouped KV heads over `T` positions: query `i`
/// sees keys `0..=i`; query head `h` reads KV head `h / (H / KVH)`.
/// `q`: `[T, H·D]`, `k`, `v`: `[T, KVH·D]`.
pub fn causal_attention(q: &[f32], k: &[f32], v: &[f32], t: usize, heads: usize, kv_heads: usize, d: usize) -> Vec<f32> {
    let (w, kw, group) = (heads * d, kv_heads * d, heads / kv_heads);
    let mut out = vec![0f32; t * w];
    for i in 0..t {
        for h in 0..heads {
            let col = (h / group) * d;
            let keys: Vec<usize> = (0..=i).collect();
            attend(&q[i * w + h * d..][..d], &keys, |j| &k[j * kw + col..][..d], |j| &v[j * kw + col..][..d], &mut out[i * w + h * d..][..d]);
        }
    }
    out
}

/// `out = softmax(q·kⱼ / sqrt(D)) · vⱼ` over `keys`, in f64.
fn attend<'a>(q: &[f32], keys: &[usize], k: impl Fn(usize) -> &'a [f32], v: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
    if keys.is_empty() {
        out.fill(0.0);
        return;
    }
    let scale = 1.0 / (q.len() as f64).sqrt();
    let scores: Vec<f64> = keys.iter().map(|&j| q.iter().zip(k(j)).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() * scale).collect();
    let m = scores.iter().fold(f64::NEG_INFINITY, |m, &s| m.max(s));
    let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
    let sum: f64 = e.iter().sum();
    for (o, c) in out.iter_mut().enumerate() {
        *c = (keys.iter().zip(&e).map(|(&j, &w)| w * v(j)[o] as f64).sum::<f64>() / sum) as f32;
    }
}

/// Rotary embedding (rotate-half layout) of `[T, H·D]` rows at positions
/// `p0..`: pairs `(x[i], x[i + D/2])` turned by `position · inv_freq[i]`.
pub fn rope(x: &[f32], heads: usize, inv_freq: &[f32], p0: usize) -> Vec<f32> {
    let half = inv_freq.len();
    let d = 2 * half;
    let mut out = x.to_vec();
    for (pos, row) in out.chunks_mut(heads * d).enumerate() {
        for head in row.chunks_mut(d) {
            for (i, &f) in inv_freq.iter().enumerate() {
                let angle = ((p0 + pos) as f32 * f) as f64;
                let (a, b) = (head[i] as f64, head[i + half] as f64);
                head[i] = (a * angle.cos() - b * angle.sin()) as f32;
                head[i + half] = (b * angle.cos() + a * angle.sin()) as f32;
            }
        }
    }
    out
}

/// `dy · f'(x)` of an activation, in f64.
pub fn act_backward(x: &[f32], dy: &[f32], act: crate::kinds::Act) -> Vec<f32> {
    use crate::kinds::Act;
    let pi = std::f64::consts::PI;
    x.iter()
        .zip(dy)
        .map(|(&x, &g)| {
            let x = x as f64;
            let d = match act {
                Act::Gelu => 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2)) + x * (-x * x / 2.0).exp() / (2.0 * pi).sqrt(),
                Act::GeluTanh => {
                    let c = (2.0 / pi).sqrt();
                    let u = c * (x + 0.044715 * x * x * x);
                    let th = u.tanh();
                    0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * c * (1.0 + 3.0 * 0.044715 * x * x)
                }
                Act::Silu => {
                    let s = 1.0 / (1.0 + (-x).exp());
                    s * (1.0 + x * (1.0 - s))
                }
                Act::Relu => f64::from(u8::from(x > 0.0)),
            };
            (d * g as f64) as f32
        })
        .collect()
}

/// Softmax backward over rows of `cols` from the output `y`: `y · (dy - Σ dy·y)`.
pub fn softmax_backward(y: &[f32], dy: &[f32], cols: usize) -> Vec<f32> {
    y.chunks(cols)
        .zip(dy.chunks(cols))
        .flat_map(|(y, g)| {
            let dot: f64 = y.iter().zip(g).map(|(&a, &b)| a as f64 * b as f64).sum();
            y.iter().zip(g).map(move |(&a, &b)| (a as f64 * (b as f64 - dot)) as f32)
        })
        .collect()
}

/// Layer norm (`rms` false) or RMS norm (`rms` true) backward over rows of
/// `gamma.len()`: `(dx, dgamma, dbeta)` (dbeta empty for RMS norm).
pub fn norm_backward(x: &[f32], gamma: &[f32], dy: &[f32], eps: f32, rms: bool) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = gamma.len();
    let (mut dx, mut dgamma, mut dbeta) = (vec![0f32; x.len()], vec![0f64; c], vec![0f64; c]);
    for ((row, g), out) in x.chunks(c).zip(dy.chunks(c)).zip(dx.chunks_mut(c)) {
        let mean = if rms { 0.0 } else { row.iter().map(|&v| v as f64).sum::<f64>() / c as f64 };
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        let xhat: Vec<f64> = row.iter().map(|&v| (v as f64 - mean) * inv).collect();
        let gx: Vec<f64> = g.iter().zip(gamma).map(|(&a, &b)| a as f64 * b as f64).collect();
        let m1 = if rms { 0.0 } else { gx.iter().sum::<f64>() / c as f64 };
        let m2 = gx.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / c as f64;
        for j in 0..c {
            out[j] = (inv * (gx[j] - m1 - xhat[j] * m2)) as f32;
            dgamma[j] += g[j] as f64 * xhat[j];
            dbeta[j] += g[j] as f64;
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    (dx, f(dgamma), if rms { Vec::new() } else { f(dbeta) })
}

/// Cross-entropy of `[R, C]` logits against one target per row (negative:
/// ignored): `(row losses, (softmax - onehot) · scale)`, zeros on ignored rows.
pub fn cross_entropy(logits: &[f32], targets: &[i64], cols: usize, scale: f32) -> (Vec<f32>, Vec<f32>) {
    let probs = softmax(logits, cols);
    let (mut loss, mut grad) = (Vec::new(), vec![0f32; logits.len()]);
    for (r, &t) in targets.iter().enumerate() {
        if t < 0 {
            loss.push(0.0);
            continue;
        }
        let row = &logits[r * cols..][..cols];
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        loss.push((lse - row[t as usize] as f64) as f32);
        for j in 0..cols {
            let onehot = if j == t as usize { 1.0 } else { 0.0 };
            grad[r * cols + j] = ((probs[r * cols + j] as f64 - onehot) * scale as f64) as f32;
        }
    }
    (loss, grad)
}

/// One AdamW step (torch's, decoupled weight decay) at step `t` (1-based):
/// `(p', m', v')` with the gradient scaled by `grad_scale` first.
#[allow(clippy::too_many_arguments)]
pub fn adamw(p: &[f32], g: &[f32], m: &[f32], v: &[f32], t: u32, lr: f64, grad_scale: f32, cfg: &crate::ops::backward::AdamW) -> [Vec<f32>; 3] {
    let (c1, c2) = (1.0 - cfg.beta1.powi(t as i32), 1.0 - cfg.beta2.powi(t as i32));
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..p.len() {
        let g = g[i] as f64 * grad_scale as f64;
        let m1 = cfg.beta1 * m[i] as f64 + (1.0 - cfg.beta1) * g;
        let v1 = cfg.beta2 * v[i] as f64 + (1.0 - cfg.beta2) * g * g;
        let p1 = p[i] as f64 * (1.0 - lr * cfg.weight_decay) - lr * (m1 / c1) / ((v1 / c2).sqrt() + cfg.eps);
        out[0].push(p1 as f32);
        out[1].push(m1 as f32);
        out[2].push(v1 as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_matches_known_values() {
        // Abramowitz & Stegun, table 7.1.
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (-1.5, -0.9661051464753108),
        ] {
            let got = super::erf(x);
            assert!((got - want).abs() < 1e-14, "erf({x}) = {got}, want {want}");
        }
    }
}
