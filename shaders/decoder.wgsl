// Causal attention over a KV cache: prefill (many new queries, one fused
// online-softmax pass with key tiles in workgroup memory) and decode (one
// query, one key per invocation), both split over the cached length, and a
// pass that joins the splits.
//
// Splitting bounds the work of one invocation: on lavapipe (Mesa 22) a
// loop over more than ~115,000 key elements (e.g. 1,900 keys of 64) gave
// wrong results, for the encoder kernel too; and it spreads a long context
// over more workgroups.
//
// Legend: T new tokens at positions p0 .. p0+T-1, L = p0 + T cached keys,
// H query heads, G = H / KVH query heads per key/value head, D head size (a
// multiple of 4, at most 4 * MAX_D4). q rows hold H·D floats; the caches are
// [capacity, KVH·D] rows, so the keys of KV head g are columns g·D .. g·D+D.

struct CausalParams {
    t: u32,       // T
    d4: u32,      // D / 4
    heads: u32,   // H
    group: u32,   // G
    q_ld: u32,    // vec4s per q / out row (H·D/4)
    kv_ld: u32,   // vec4s per cache row (KVH·D/4)
    p0: u32,      // position of the first new token
    scale: f32,   // 1 / sqrt(D)
    splits: u32,  // key ranges the work is split into
    split: u32,   // keys per range (prefill; a multiple of TILE)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: CausalParams;

const MAX_D4: u32 = 32u;
override WG: u32 = 64u;

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;       // [T, H·D/4]
@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;      // [capacity, KVH·D/4]
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;      // [capacity, KVH·D/4]
// One split: [T, H·D/4] normalized. Several: [splits, T, H·D/4] partial
// sums Σ exp(s - m)·v, with `stats` [splits, T, H, 2] holding (m, Σ exp(s - m)).
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

const TILE: u32 = 16u;
var<workgroup> k_tile: array<vec4<f32>, 512>; // TILE * MAX_D4
var<workgroup> v_tile: array<vec4<f32>, 512>;

// Prefill: query i (position p0 + i) of head h attends to the keys of
// split s up to position p0 + i with an online softmax. The WG queries of a
// workgroup share one head and read the keys through workgroup memory, TILE
// at a time. Grid: (ceil(T / WG), H, splits).
@compute @workgroup_size(WG)
fn prefill(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let first = wid.x * WG;
    let i = first + lid.x;
    let valid = i < p.t;
    let h = wid.y;
    let kv_col = (h / p.group) * p.d4;
    let scale = p.scale;
    let pos = p.p0 + min(i, p.t - 1u);
    // Keys the whole workgroup needs: up to its last valid query's position.
    let last = p.p0 + min(first + WG - 1u, p.t - 1u);
    let begin = wid.z * p.split;
    let stop = min(begin + p.split, last + 1u);
    var qi: array<vec4<f32>, MAX_D4>;
    var acc: array<vec4<f32>, MAX_D4>;
    let q_row = min(i, p.t - 1u) * p.q_ld + h * p.d4;
    for (var c = 0u; c < p.d4; c++) {
        qi[c] = q[q_row + c] * scale;
        acc[c] = vec4<f32>(0.0);
    }
    var m = bitcast<f32>(LOWEST);
    var l = 0.0;
    for (var j0 = begin; j0 < stop; j0 += TILE) {
        for (var e = lid.x; e < TILE * p.d4; e += WG) {
            let jj = e / p.d4;
            let c = e % p.d4;
            let j = min(j0 + jj, last);
            k_tile[jj * MAX_D4 + c] = kc[j * p.kv_ld + kv_col + c];
            v_tile[jj * MAX_D4 + c] = vc[j * p.kv_ld + kv_col + c];
        }
        workgroupBarrier();
        let end = min(min(j0 + TILE, pos + 1u), stop);
        for (var j = j0; j < end; j++) {
            let row = (j - j0) * MAX_D4;
            var s = 0.0;
            for (var c = 0u; c < p.d4; c++) {
                s += dot(qi[c], k_tile[row + c]);
            }
            let m_new = max(m, s);
            let correction = exp(m - m_new);
            let w = exp(s - m_new);
            l = l * correction + w;
            for (var c = 0u; c < p.d4; c++) {
                acc[c] = acc[c] * correction + w * v_tile[row + c];
            }
            m = m_new;
        }
        workgroupBarrier();
    }
    if (!valid) {
        return;
    }
    let row = wid.z * p.t + i;
    let o_row = row * p.q_ld + h * p.d4;
    if (p.splits == 1u) {
        let inv = select(0.0, 1.0 / l, l > 0.0);
        for (var c = 0u; c < p.d4; c++) {
            out[o_row + c] = acc[c] * inv;
        }
    } else {
        for (var c = 0u; c < p.d4; c++) {
            out[o_row + c] = acc[c];
        }
        stats[(row * p.heads + h) * 2u] = m;
        stats[(row * p.heads + h) * 2u + 1u] = l;
    }
}

// Decode: the one new query (position p0) against a split of WG cached
// keys, one key per invocation; writes the split's partial sums and stats.
// Grid: (splits = ceil(L / WG), H).
var<workgroup> red: array<f32, 256>;
var<workgroup> part: array<vec4<f32>, 256>;

@compute @workgroup_size(WG)
fn decode_split(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let split = wid.x;
    let h = wid.y;
    let len = p.p0 + 1u;
    let kv_col = (h / p.group) * p.d4;
    let q_row = h * p.d4;
    let j = split * WG + lid.x;
    let valid = j < len;
    var s = bitcast<f32>(LOWEST);
    if (valid) {
        var d = 0.0;
        for (var c = 0u; c < p.d4; c++) {
            d += dot(q[q_row + c], kc[j * p.kv_ld + kv_col + c]);
        }
        s = d * p.scale;
    }
    red[lid.x] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid.x < stride) {
            red[lid.x] = max(red[lid.x], red[lid.x + stride]);
        }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    let w = select(0.0, exp(s - m), valid);
    red[lid.x] = w;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid.x < stride) {
            red[lid.x] += red[lid.x + stride];
        }
        workgroupBarrier();
    }
    let l = red[0];
    workgroupBarrier();
    // Weighted values: invocation (g, c) sums column c over keys g, g + G, ...
    red[lid.x] = w;
    workgroupBarrier();
    let key_groups = WG / p.d4;
    let c = lid.x % p.d4;
    let g = lid.x / p.d4;
    var a = vec4<f32>(0.0);
    if (g < key_groups) {
        for (var jj = g; jj < WG; jj += key_groups) {
            let jk = split * WG + jj;
            if (jk < len) {
                a += red[jj] * vc[jk * p.kv_ld + kv_col + c];
            }
        }
    }
    part[lid.x] = a;
    workgroupBarrier();
    if (g == 0u) {
        var total = part[c];
        for (var gg = 1u; gg < key_groups; gg++) {
            total += part[gg * p.d4 + c];
        }
        out[(split * p.heads + h) * p.d4 + c] = total;
    }
    if (lid.x == 0u) {
        stats[(split * p.heads + h) * 2u] = m;
        stats[(split * p.heads + h) * 2u + 1u] = l;
    }
}

// Joins the splits: out[i, h] = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s.
// Here `q` is bound to the partial sums and `out` to the result
// [T, H·D/4]. Grid: one invocation per vec4 of the result.
@compute @workgroup_size(WG)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = flat_index(gid, groups, WG);
    if (n >= p.t * p.q_ld) {
        return;
    }
    let c = n % p.d4;
    let h = (n / p.d4) % p.heads;
    let i = n / p.q_ld;
    var m = bitcast<f32>(LOWEST);
    for (var s = 0u; s < p.splits; s++) {
        m = max(m, stats[((s * p.t + i) * p.heads + h) * 2u]);
    }
    var l = 0.0;
    var a = vec4<f32>(0.0);
    for (var s = 0u; s < p.splits; s++) {
        let at = ((s * p.t + i) * p.heads + h) * 2u;
        let f = exp(stats[at] - m);
        l += f * stats[at + 1u];
        a += f * q[(s * p.t + i) * p.q_ld + h * p.d4 + c];
    }
    out[n] = a * select(0.0, 1.0 / l, l > 0.0);
}
