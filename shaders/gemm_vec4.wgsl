// GEMM and GEMV with vec4 loads, for operands whose inner dims are contiguous
// and 4-aligned (the common case: activations times weights). gemm.wgsl and
// gemv.wgsl serve every other layout.
//
// Legend: b batch index, M rows of A and C, K inner size, N columns of C.
// Offsets and strides in Params are in vec4 units (elements / 4).
// A is [B, M, K] with K contiguous. B is one of two layouts:
//   `nn`, `gemv_nn`: B is [B, K, N] with N contiguous (N % 4 == 0);
//   `nt`, `gemv_nt`: B is stored [B, N, K] with K contiguous (a linear layer's
//                    weight [out, in], used transposed).
// B may be stored as f16 where the device has shader-f16 (see kernels.rs).
// C is [B, M, N], contiguous, written as scalars (offsets in elements).

alias BT = f32; // webfm:storage-type

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bs: u32, a_rs: u32, _a: u32,     // A[b, i, 4q..4q+4] = a[a_off + b*a_bs + i*a_rs + q]
    b_off: u32, b_bs: u32, b_rs: u32, _b: u32,     // nn: B[b, l, 4q..] = bm[b_off + b*b_bs + l*b_rs + q]
                                                   // nt: B[b, 4q.., j] = bm[b_off + b*b_bs + j*b_rs + q]
    c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32, // C[b, i, j] = c[c_off + b*c_bs + i*N + j] (elements)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bm: array<vec4<BT>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override WG_X: u32 = 8u;   // nn/nt: invocations along N; gemv_*: see each entry
override WG_Y: u32 = 8u;   // nn/nt: invocations along M
const TM: u32 = 8u;        // rows of C per invocation (nn, nt)
const TN: u32 = 8u;        // columns of C per invocation (nn: two vec4; nt: eight scalars)

fn store(bi: u32, r: u32, col: u32, v: f32) {
    if (r < p.m && col < p.n) {
        c[p.c_off + bi * p.c_bs + r * p.n + col] = v;
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    let bi = gid.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    var a_idx: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        a_idx[i] = p.a_off + bi * p.a_bs + min(row0 + i, p.m - 1u) * p.a_rs;
    }
    // The two vec4 column groups of this invocation, clamped at the edge.
    let n4 = p.n / 4u;
    let q0 = min(col0 / 4u, n4 - 1u);
    let q1 = min(col0 / 4u + 1u, n4 - 1u);
    var brow = p.b_off + bi * p.b_bs;
    var acc: array<vec4<f32>, TM * 2u>;
    for (var k4 = 0u; k4 < p.k / 4u; k4++) {
        var av: array<vec4<f32>, TM>;
        for (var i = 0u; i < TM; i++) {
            av[i] = a[a_idx[i] + k4];
        }
        for (var kk = 0u; kk < 4u; kk++) {
            let b0 = vec4<f32>(bm[brow + q0]);
            let b1 = vec4<f32>(bm[brow + q1]);
            for (var i = 0u; i < TM; i++) {
                let s = vec4<f32>(av[i][kk]);
                acc[2u * i] = fma(s, b0, acc[2u * i]);
                acc[2u * i + 1u] = fma(s, b1, acc[2u * i + 1u]);
            }
            brow += p.b_rs;
        }
    }
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(bi, row0 + i, col0 + j, acc[2u * i][j]);
            store(bi, row0 + i, col0 + 4u + j, acc[2u * i + 1u][j]);
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    let bi = gid.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    var a_idx: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        a_idx[i] = p.a_off + bi * p.a_bs + min(row0 + i, p.m - 1u) * p.a_rs;
    }
    var b_idx: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        b_idx[j] = p.b_off + bi * p.b_bs + min(col0 + j, p.n - 1u) * p.b_rs;
    }
    var acc: array<f32, TM * TN>;
    for (var k4 = 0u; k4 < p.k / 4u; k4++) {
        var av: array<vec4<f32>, TM>;
        var bv: array<vec4<f32>, TN>;
        for (var i = 0u; i < TM; i++) {
            av[i] = a[a_idx[i] + k4];
        }
        for (var j = 0u; j < TN; j++) {
            bv[j] = vec4<f32>(bm[b_idx[j] + k4]);
        }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i * TN + j] += dot(av[i], bv[j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
            store(bi, row0 + i, col0 + j, acc[i * TN + j]);
        }
    }
}

// GEMV (M = 1). Partial sums of the K split meet in workgroup memory after one barrier.
var<workgroup> partial: array<vec4<f32>, WG_X * WG_Y>;

// gemv_nn: invocation x owns 4 adjacent outputs (one vec4 of B's row), y splits K.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemv_nn(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let bi = wid.z;
    let n4 = p.n / 4u;
    let q = min(wid.x * WG_X + lid.x, n4 - 1u);
    let x_base = p.a_off + bi * p.a_bs;
    let b_base = p.b_off + bi * p.b_bs + q;
    var acc = vec4<f32>(0.0);
    for (var k4 = lid.y; k4 < p.k / 4u; k4 += WG_Y) {
        let xv = a[x_base + k4];
        let row = b_base + 4u * k4 * p.b_rs;
        acc = fma(vec4<f32>(xv.x), vec4<f32>(bm[row]), acc);
        acc = fma(vec4<f32>(xv.y), vec4<f32>(bm[row + p.b_rs]), acc);
        acc = fma(vec4<f32>(xv.z), vec4<f32>(bm[row + 2u * p.b_rs]), acc);
        acc = fma(vec4<f32>(xv.w), vec4<f32>(bm[row + 3u * p.b_rs]), acc);
    }
    partial[lid.y * WG_X + lid.x] = acc;
    workgroupBarrier();
    if (lid.y == 0u) {
        var s = vec4<f32>(0.0);
        for (var t = 0u; t < WG_Y; t++) {
            s += partial[t * WG_X + lid.x];
        }
        let col0 = (wid.x * WG_X + lid.x) * 4u;
        for (var j = 0u; j < 4u; j++) {
            store(bi, 0u, col0 + j, s[j]);
        }
    }
}

// gemv_nt: invocation y owns one output (a row of the [N, K] weight), x splits
// K, so neighbouring invocations read neighbouring vec4s of the same row.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemv_nt(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let bi = wid.z;
    let j = wid.x * WG_Y + lid.y;
    let x_base = p.a_off + bi * p.a_bs;
    let b_base = p.b_off + bi * p.b_bs + min(j, p.n - 1u) * p.b_rs;
    var acc = vec4<f32>(0.0);
    for (var k4 = lid.x; k4 < p.k / 4u; k4 += WG_X) {
        acc = fma(a[x_base + k4], vec4<f32>(bm[b_base + k4]), acc);
    }
    partial[lid.y * WG_X + lid.x] = acc;
    workgroupBarrier();
    if (lid.x == 0u) {
        var s = vec4<f32>(0.0);
        for (var t = 0u; t < WG_X; t++) {
            s += partial[lid.y * WG_X + t];
        }
        store(bi, 0u, j, s.x + s.y + s.z + s.w);
    }
}
