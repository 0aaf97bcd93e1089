// Picking the next token on the GPU, so that only an id is read back.

struct SampleParams {
    n: u32,       // penalize: distinct ids; argmax: V
    penalty: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SampleParams;

override WG: u32 = 256u;

@group(0) @binding(1) var<storage, read_write> logits: array<f32>; // [V]
@group(0) @binding(2) var<storage, read> seen: array<u32>;         // distinct ids so far; mask: the allowed-token bitset
@group(0) @binding(3) var<storage, read_write> best: array<u32>;   // [1]

// transformers' repetition penalty on each distinct id seen so far:
// a positive logit is divided by the penalty, a negative one multiplied.
@compute @workgroup_size(WG)
fn penalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n) {
        return;
    }
    let id = seen[gid.x];
    let x = logits[id];
    let r = p.penalty;
    logits[id] = select(x * r, x / r, x > 0.0);
}

// Constrained decoding: every logit whose bit (bit i % 32 of word i / 32) is
// clear becomes the lowest finite value, so the argmax never picks it.
@compute @workgroup_size(WG)
fn mask(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n) {
        return;
    }
    let on = (seen[gid.x / 32u] >> (gid.x % 32u)) & 1u;
    if (on == 0u) {
        logits[gid.x] = bitcast<f32>(LOWEST);
    }
}

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

// The index of the largest logit (the smallest index among equals), by one
// workgroup.
@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_id) lid: vec3<u32>) {
    var v = bitcast<f32>(LOWEST);
    var i = 0xffffffffu;
    for (var j = lid.x; j < p.n; j += WG) {
        let x = logits[j];
        if (x > v || i == 0xffffffffu) {
            v = x;
            i = j;
        }
    }
    best_v[lid.x] = v;
    best_i[lid.x] = i;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid.x < stride) {
            let ov = best_v[lid.x + stride];
            let oi = best_i[lid.x + stride];
            if (oi != 0xffffffffu && (ov > best_v[lid.x] || (ov == best_v[lid.x] && oi < best_i[lid.x]) || best_i[lid.x] == 0xffffffffu)) {
                best_v[lid.x] = ov;
                best_i[lid.x] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        best[0] = best_i[0];
    }
}
