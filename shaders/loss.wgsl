// Cross-entropy of logits [R, C] against class ids, with its gradient.
//
// Legend: R rows, C classes. One workgroup per row (a 2-D grid when R is
// large); WG must be a power of two.

struct LossParams {
    rows: u32,
    cols: u32,
    scale: f32,  // the factor every row's gradient is multiplied by
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [R, C]
@group(0) @binding(2) var<storage, read> targets: array<f32>;         // [R], class ids as f32; negative: ignored
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;   // [R, C]
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;      // [R]

override WG: u32 = 64u;

// Reductions: workgroup_max, workgroup_sum (reduce.wgsl).

// loss[r] = logsumexp - logits[target] (0 when ignored);
// dlogits = (softmax - onehot) * scale (zeros when ignored).
@compute @workgroup_size(WG)
fn cross_entropy(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(wid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let t = targets[row];
    if (t < 0.0) {
        for (var j = lid.x; j < p.cols; j += WG) {
            dlogits[base + j] = 0.0;
        }
        if (lid.x == 0u) {
            loss[row] = 0.0;
        }
        return;
    }
    let cls = u32(t);
    var m = bitcast<f32>(LOWEST);
    for (var j = lid.x; j < p.cols; j += WG) {
        m = max(m, logits[base + j]);
    }
    let row_max = workgroup_max(lid.x, m);
    var e = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) {
        e += exp(logits[base + j] - row_max);
    }
    let sum = workgroup_sum(lid.x, e);
    for (var j = lid.x; j < p.cols; j += WG) {
        let prob = exp(logits[base + j] - row_max) / sum;
        dlogits[base + j] = (prob - select(0.0, 1.0, j == cls)) * p.scale;
    }
    if (lid.x == 0u) {
        loss[row] = log(sum) + row_max - logits[base + cls];
    }
}
