// Backward of layer norm and RMS norm (norm.wgsl), the statistics recomputed from x.
//
// Legend: R rows, C columns. One workgroup per row (a 2-D grid when R is
// large); WG must be a power of two. Besides dx, each writes dyx = dy * xhat,
// which the caller sums over rows for d gamma (d beta is the row sum of dy).

struct NormParams {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [R, C], the forward's input
@group(0) @binding(2) var<storage, read> dy: array<f32>;         // [R, C]
@group(0) @binding(3) var<storage, read> gamma: array<f32>;      // [C]
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;   // [R, C]
@group(0) @binding(5) var<storage, read_write> dyx: array<f32>;  // [R, C]: dy * xhat

override WG: u32 = 64u;

// Reductions: workgroup_sum, workgroup_sum2 (reduce.wgsl).

// With xhat = (x - mean) * inv and g = dy * gamma,
// dx = inv * (g - mean(g) - xhat * mean(g * xhat)).
@compute @workgroup_size(WG)
fn layer_norm_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let c = f32(p.cols);
    var s = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        s += x[base + j];
    }
    let mean = workgroup_sum(lid.x, s) / c;
    var q = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        let d = x[base + j] - mean;
        q += d * d;
    }
    let inv = inverseSqrt(workgroup_sum(lid.x, q) / c + p.eps);
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        let xhat = (x[base + j] - mean) * inv;
        let g = dy[base + j] * gamma[j];
        sg += g;
        sgx += g * xhat;
    }
    let sums = workgroup_sum2(lid.x, sg, sgx) / c;
    for (var j = lid.x; j < p.cols; j += WG) {
        let xhat = (x[base + j] - mean) * inv;
        let g = dy[base + j] * gamma[j];
        dx[base + j] = inv * (g - sums.x - xhat * sums.y);
        dyx[base + j] = dy[base + j] * xhat;
    }
}

// xhat = x * inv, g = dy * gamma, dx = inv * (g - xhat * mean(g * xhat)).
@compute @workgroup_size(WG)
fn rms_norm_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let c = f32(p.cols);
    var q = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        q += x[base + j] * x[base + j];
    }
    let inv = inverseSqrt(workgroup_sum(lid.x, q) / c + p.eps);
    var sgx = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        sgx += dy[base + j] * gamma[j] * x[base + j] * inv;
    }
    let m = workgroup_sum(lid.x, sgx) / c;
    for (var j = lid.x; j < p.cols; j += WG) {
        let xhat = x[base + j] * inv;
        dx[base + j] = inv * (dy[base + j] * gamma[j] - xhat * m);
        dyx[base + j] = dy[base + j] * xhat;
    }
}
