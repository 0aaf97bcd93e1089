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
