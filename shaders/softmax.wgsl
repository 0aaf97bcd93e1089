// Row softmax over the last dim, stable: exp(x - max) / sum(exp(x - max)).
//
// Legend: R rows, C columns. One workgroup per row (a 2-D grid of workgroups
// when R is large); WG invocations stride over the row and reduce in
// workgroup memory. WG must be a power of two.

struct SoftmaxParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [R, C]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [R, C]

override WG: u32 = 64u;

// Reductions: workgroup_max, workgroup_sum (reduce.wgsl).

@compute @workgroup_size(WG)
fn softmax(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;

    var m = bitcast<f32>(LOWEST);
    for (var j = lid.x; j < p.cols; j += WG) {
        m = max(m, x[base + j]);
    }
    let row_max = workgroup_max(lid.x, m);

    var sum = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        sum += exp(x[base + j] - row_max);
    }
    let inv = 1.0 / workgroup_sum(lid.x, sum);

    for (var j = lid.x; j < p.cols; j += WG) {
        out[base + j] = exp(x[base + j] - row_max) * inv;
    }
}
