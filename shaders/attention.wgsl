// Encoder self-attention over a batch of texts padded to T tokens, one fused
// pass per query row: scaled q·k, the padding mask, softmax and ·v.
//
//   out[b, i, h] = Σ_{j < len[b]} softmax_j(scale · q[b, i, h] · k[b, j, h]) v[b, j, h]
//
// Legend: B texts, T padded length, H heads, D head size (a multiple of 4, at
// most 4 * MAX_D4). q, k and v are rows of `ld` vec4s ([B, T, ...]); head h
// of a row starts at `off + h * D/4` (so one fused [B, T, 3·H·D] projection
// serves as all three, bound three times). The softmax is computed online
// (running max and sum), so scores are never stored. Padded query rows
// (i >= len[b]) are computed like the others and ignored by the caller.

struct AttentionParams {
    t: u32,       // T
    d4: u32,      // D / 4
    ld: u32,      // vec4s per row of q, k, v
    out_ld: u32,  // vec4s per row of out (H * D / 4)
    q_off: u32,   // vec4 offset of q's head 0 in a row
    k_off: u32,
    v_off: u32,
    scale: f32,   // usually 1 / sqrt(D)
}

@group(0) @binding(0) var<uniform> p: AttentionParams;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;            // [B]
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // [B, T, H*D/4]

const MAX_D4: u32 = 32u;
override WG: u32 = 64u;

// Grid: (ceil(T / WG), H, B).
@compute @workgroup_size(WG)
fn encoder(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let i = gid.x;
    let h = wid.y;
    let b = wid.z;
    if (i >= p.t) {
        return;
    }
    let len = min(lens[b], p.t);
    let scale = p.scale;
    let head = h * p.d4;
    var qi: array<vec4<f32>, MAX_D4>;
    var acc: array<vec4<f32>, MAX_D4>;
    let q_row = (b * p.t + i) * p.ld + p.q_off + head;
    for (var c = 0u; c < p.d4; c++) {
        qi[c] = q[q_row + c] * scale;
        acc[c] = vec4<f32>(0.0);
    }
    var m = bitcast<f32>(LOWEST);
    var l = 0.0;
    for (var j = 0u; j < len; j++) {
        let row = (b * p.t + j) * p.ld + head;
        var s = 0.0;
        for (var c = 0u; c < p.d4; c++) {
            s += dot(qi[c], k[row + p.k_off + c]);
        }
        let m_new = max(m, s);
        let correction = exp(m - m_new);
        let w = exp(s - m_new);
        l = l * correction + w;
        for (var c = 0u; c < p.d4; c++) {
            acc[c] = acc[c] * correction + w * v[row + p.v_off + c];
        }
        m = m_new;
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let o_row = (b * p.t + i) * p.out_ld + head;
    for (var c = 0u; c < p.d4; c++) {
        out[o_row + c] = acc[c] * inv;
    }
}
