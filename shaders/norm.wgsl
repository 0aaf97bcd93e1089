// Layer norm and RMS norm over the last dim.
//
// Legend: R rows, C columns. layer_norm: (x - mean) / sqrt(var + eps) * gamma + beta
// (two passes: the mean, then the variance around it). rms_norm: x / sqrt(mean(x^2) + eps) * gamma.
// One workgroup per row (2-D grid of workgroups when R is large); WG must be a power of two.

struct NormParams {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [R, C]
@group(0) @binding(2) var<storage, read> gamma: array<f32>;     // [C]
@group(0) @binding(3) var<storage, read> beta: array<f32>;      // [C] (layer_norm only)
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [R, C]

override WG: u32 = 64u;

// Reductions: workgroup_sum (reduce.wgsl).

@compute @workgroup_size(WG)
fn layer_norm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var s = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        s += x[base + j];
    }
    let mean = workgroup_sum(lid.x, s) / f32(p.cols);
    var q = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        let d = x[base + j] - mean;
        q += d * d;
    }
    let inv = inverseSqrt(workgroup_sum(lid.x, q) / f32(p.cols) + p.eps);
    for (var j = lid.x; j < p.cols; j += WG) {
        out[base + j] = (x[base + j] - mean) * inv * gamma[j] + beta[j];
    }
}

@compute @workgroup_size(WG)
fn rms_norm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var q = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        let v = x[base + j];
        q += v * v;
    }
    let inv = inverseSqrt(workgroup_sum(lid.x, q) / f32(p.cols) + p.eps);
    for (var j = lid.x; j < p.cols; j += WG) {
        out[base + j] = x[base + j] * inv * gamma[j];
    }
}
