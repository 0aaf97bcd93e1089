// Backward kernels for fine-tuning, and the AdamW update.
//
// Legend: N elements, R rows, C columns (the last dim). Elementwise entries
// take x (the forward input) and dy (the gradient of the output) and write
// dx. Row entries run one workgroup per row (a 2-D grid when R is large);
// WG must be a power of two. Large N uses a 2-D grid: index = x + y * groups_x * WG.
//
// Params, by entry:
//   *_bwd (elementwise):  a = N
//   softmax_bwd:          a = R, b = C
//   layer_norm_bwd, rms_norm_bwd: a = R, b = C, f0 = eps
//   cross_entropy:        a = R, b = C, f0 = the factor every row's gradient is scaled by
//   adamw:                a = N, f0 = lr, f1 = beta1, f2 = 1 - beta1, f3 = beta2, f4 = 1 - beta2,
//                         f5 = eps, f6 = 1 - lr * weight decay, f7 = 1 - beta1^t, f8 = 1 - beta2^t,
//                         f9 = gradient factor (clipping). The complements come computed in f64
//                         (1 - 0.999 in f32 is off by 1e-5 relative; torch computes it in double).

struct Params {
    a: u32,
    b: u32,
    _pad0: u32,
    _pad1: u32,
    f0: f32,
    f1: f32,
    f2: f32,
    f3: f32,
    f4: f32,
    f5: f32,
    f6: f32,
    f7: f32,
    f8: f32,
    f9: f32,
    f10: f32,
    f11: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;           // gamma [C]; AdamW: m
@group(0) @binding(4) var<storage, read> w2: array<f32>;          // AdamW: v
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // dx; cross_entropy: dlogits; AdamW: p'
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;  // dy * xhat (norms); row losses; AdamW: m'
@group(0) @binding(7) var<storage, read_write> out3: array<f32>;  // AdamW: v'

override WG: u32 = 64u;

fn flat(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

// erf by Abramowitz & Stegun 7.1.26 (as elementwise.wgsl): absolute error below 1.5e-7.
fn erf_approx(v: f32) -> f32 {
    let s = sign(v);
    let z = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return s * (1.0 - poly * exp(-z * z));
}

// d/dv of 0.5 v (1 + erf(v / sqrt 2)) = Phi(v) + v phi(v).
@compute @workgroup_size(WG)
fn gelu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    if (i < p.a) {
        let v = x[i];
        let cdf = 0.5 * (1.0 + erf_approx(v * 0.70710678118654752));
        let pdf = 0.3989422804014327 * exp(-0.5 * v * v);
        out[i] = dy[i] * (cdf + v * pdf);
    }
}

// d/dv of 0.5 v (1 + tanh(u)), u = sqrt(2/pi) (v + 0.044715 v^3).
@compute @workgroup_size(WG)
fn gelu_tanh_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    if (i < p.a) {
        let v = x[i];
        let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -10.0, 10.0);
        let t = tanh(u);
        let du = 0.7978845608028654 * (1.0 + 0.134145 * v * v);
        out[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
    }
}

// d/dv of v sigmoid(v) = s (1 + v (1 - s)).
@compute @workgroup_size(WG)
fn silu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    if (i < p.a) {
        let v = x[i];
        let s = 1.0 / (1.0 + exp(-v));
        out[i] = dy[i] * s * (1.0 + v * (1.0 - s));
    }
}

@compute @workgroup_size(WG)
fn relu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    if (i < p.a) {
        out[i] = select(0.0, dy[i], x[i] > 0.0);
    }
}

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;

// Sums of `u` and `v` over the workgroup; every invocation gets both totals.
fn workgroup_sum2(lane: u32, u: f32, v: f32) -> vec2<f32> {
    red[lane] = u;
    red2[lane] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] += red[lane + s];
            red2[lane] += red2[lane + s];
        }
        workgroupBarrier();
    }
    let total = vec2<f32>(red[0], red2[0]);
    workgroupBarrier();
    return total;
}

fn row_of(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.x + wid.y * groups.x;
}

// Softmax backward from its output y (x here): dx = y * (dy - sum(dy * y)).
@compute @workgroup_size(WG)
fn softmax_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_of(wid, groups);
    if (row >= p.a) {
        return;
    }
    let base = row * p.b;
    var s = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        s += dy[base + j] * x[base + j];
    }
    let dot = workgroup_sum2(lid.x, s, 0.0).x;
    for (var j = lid.x; j < p.b; j += WG) {
        out[base + j] = x[base + j] * (dy[base + j] - dot);
    }
}

// Layer norm backward (the statistics recomputed from x): with xhat = (x - mean) * inv
// and g = dy * gamma, dx = inv * (g - mean(g) - xhat * mean(g * xhat)); out2 = dy * xhat
// (summed over rows for d gamma; d beta is the row sum of dy).
@compute @workgroup_size(WG)
fn layer_norm_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_of(wid, groups);
    if (row >= p.a) {
        return;
    }
    let base = row * p.b;
    let c = f32(p.b);
    var s = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        s += x[base + j];
    }
    let mean = workgroup_sum2(lid.x, s, 0.0).x / c;
    var q = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        let d = x[base + j] - mean;
        q += d * d;
    }
    let inv = inverseSqrt(workgroup_sum2(lid.x, q, 0.0).x / c + p.f0);
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        let xhat = (x[base + j] - mean) * inv;
        let g = dy[base + j] * w[j];
        sg += g;
        sgx += g * xhat;
    }
    let sums = workgroup_sum2(lid.x, sg, sgx) / c;
    for (var j = lid.x; j < p.b; j += WG) {
        let xhat = (x[base + j] - mean) * inv;
        let g = dy[base + j] * w[j];
        out[base + j] = inv * (g - sums.x - xhat * sums.y);
        out2[base + j] = dy[base + j] * xhat;
    }
}

// RMS norm backward: xhat = x * inv, g = dy * gamma, dx = inv * (g - xhat * mean(g * xhat)).
@compute @workgroup_size(WG)
fn rms_norm_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_of(wid, groups);
    if (row >= p.a) {
        return;
    }
    let base = row * p.b;
    let c = f32(p.b);
    var q = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        q += x[base + j] * x[base + j];
    }
    let inv = inverseSqrt(workgroup_sum2(lid.x, q, 0.0).x / c + p.f0);
    var sgx = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        sgx += dy[base + j] * w[j] * x[base + j] * inv;
    }
    let m = workgroup_sum2(lid.x, sgx, 0.0).x / c;
    for (var j = lid.x; j < p.b; j += WG) {
        let xhat = x[base + j] * inv;
        out[base + j] = inv * (dy[base + j] * w[j] - xhat * m);
        out2[base + j] = dy[base + j] * xhat;
    }
}

// Cross-entropy of logits x [R, C] against targets dy [R] (class ids as f32;
// negative: the row is ignored). out2[r] = logsumexp - x[target] (0 when
// ignored); out = (softmax - onehot) * f0 (zeros when ignored).
@compute @workgroup_size(WG)
fn cross_entropy(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_of(wid, groups);
    if (row >= p.a) {
        return;
    }
    let base = row * p.b;
    let t = dy[row];
    if (t < 0.0) {
        for (var j = lid.x; j < p.b; j += WG) {
            out[base + j] = 0.0;
        }
        if (lid.x == 0u) {
            out2[row] = 0.0;
        }
        return;
    }
    let cls = u32(t);
    var m = bitcast<f32>(0xff7fffffu);
    for (var j = lid.x; j < p.b; j += WG) {
        m = max(m, x[base + j]);
    }
    red[lid.x] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            red[lid.x] = max(red[lid.x], red[lid.x + s]);
        }
        workgroupBarrier();
    }
    let row_max = red[0];
    workgroupBarrier();
    var e = 0.0;
    for (var j = lid.x; j < p.b; j += WG) {
        e += exp(x[base + j] - row_max);
    }
    let sum = workgroup_sum2(lid.x, e, 0.0).x;
    for (var j = lid.x; j < p.b; j += WG) {
        let prob = exp(x[base + j] - row_max) / sum;
        out[base + j] = (prob - select(0.0, 1.0, j == cls)) * p.f0;
    }
    if (lid.x == 0u) {
        out2[row] = log(sum) + row_max - x[base + cls];
    }
}

// AdamW (decoupled weight decay, as torch.optim.AdamW): with g = grad * f9,
// m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2,
// p' = p (1 - lr wd) - lr (m' / c1) / (sqrt(v' / c2) + eps).
// x = p, dy = grad, w = m, w2 = v.
@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    if (i < p.a) {
        let g = dy[i] * p.f9;
        let m = p.f1 * w[i] + p.f2 * g;
        let v = p.f3 * w2[i] + p.f4 * g * g;
        out[i] = x[i] * p.f6 - p.f0 * (m / p.f7) / (sqrt(v / p.f8) + p.f5);
        out2[i] = m;
        out3[i] = v;
    }
}
