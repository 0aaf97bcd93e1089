// Softmax backward from its output: dx = y * (dy - sum(dy * y)) over the last dim.
//
// Legend: R rows, C columns. One workgroup per row (a 2-D grid when R is
// large); WG must be a power of two.

struct SoftmaxParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> y: array<f32>;         // [R, C], the forward's output
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // [R, C]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // [R, C]

override WG: u32 = 64u;

// Reductions: workgroup_sum (reduce.wgsl).

@compute @workgroup_size(WG)
fn softmax_bwd(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var s = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        s += dy[base + j] * y[base + j];
    }
    let dot = workgroup_sum(lid.x, s);
    for (var j = lid.x; j < p.cols; j += WG) {
        dx[base + j] = y[base + j] * (dy[base + j] - dot);
    }
}
