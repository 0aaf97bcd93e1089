// GEMM and GEMV with vec4 loads, for operands whose inner dims are contiguous
// and 4-aligned (the common case: activations times weights). gemm.wgsl and
// gemv.wgsl serve every other layout.
//
// Legend: b batch index, M rows of A and C, K inner size, N columns of C.
// Offsets and strides in Vec4GemmParams are in vec4 units (elements / 4).
// A is [B, M, K] with K contiguous. B is one of two layouts:
//   `nn`, `gemv_nn`: B is [B, K, N] with N contiguous (N % 4 == 0);
//   `nt`, `gemv_nt`: B is stored [B, N, K] with K contiguous (a linear layer's
//                    weight [out, in], used transposed).
// B may be stored as f16 where the device has shader-f16 (see kernels.rs).
// C is [B, M, N], contiguous, written as scalars (offsets in elements).

alias BT = f32; // webfm:storage-type

struct Vec4GemmParams {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bs: u32, a_rs: u32, _a: u32,     // A[b, i, 4q..4q+4] = a[a_off + b*a_bs + i*a_rs + q]
    b_off: u32, b_bs: u32, b_rs: u32, _b: u32,     // nn: B[b, l, 4q..] = bm[b_off + b*b_bs + l*b_rs + q]
                                                   // nt: B[b, 4q.., j] = bm[b_off + b*b_bs + j*b_rs + q]
    c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32, // C[b, i, j] = c[c_off + b*c_bs + i*N + j] (elements)
}

@group(0) @binding(0) var<uniform> p: Vec4GemmParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bm: array<vec4<BT>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override WG_X: u32 = 8u;   // nn/nt: invocations along N; gemv_*: see each entry
override WG_Y: u32 = 8u;   // nn/nt: invocations along M

// nn/nt: each invocation computes an 8 x 8 block of C as 2 x 2 blocks of
// mat4x4 accumulators, stepping K four at a time. The block is spelled out in
// named variables on purpose: Subzero (SwiftShader's JIT in Chromium) keeps
// indexed private arrays in memory, and named mat4x4/vec4 values in registers.
// acc_IJ holds rows 4I..4I+4 (one column per row of C, a vec4 over the 4
// columns 4J..4J+4 of C): it is (C block)^T.
const TM: u32 = 8u;        // rows of C per invocation
const TN: u32 = 8u;        // columns of C per invocation

fn store(bi: u32, r: u32, col: u32, v: f32) {
    if (r < p.m && col < p.n) {
        c[p.c_off + bi * p.c_bs + r * p.n + col] = v;
    }
}

// Writes a transposed 4 x 4 block: column i of `t` is row r0 + i of C.
fn store_block(bi: u32, r0: u32, c0: u32, t: mat4x4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(bi, r0 + i, c0 + j, t[i][j]);
        }
    }
}

fn a_row(bi: u32, row: u32) -> u32 {
    return p.a_off + bi * p.a_bs + min(row, p.m - 1u) * p.a_rs;
}

// Rows of A past the edge read the last valid row; their sums are dropped.
// R = mat4x4(four rows of A over 4 K) is A_block^T (K x M);
// nn: S = mat4x4(four rows of B over 4 N) is B_block^T, and C^T += S * R.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    let bi = gid.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let ra0 = a_row(bi, row0); let ra1 = a_row(bi, row0 + 1u); let ra2 = a_row(bi, row0 + 2u); let ra3 = a_row(bi, row0 + 3u);
    let ra4 = a_row(bi, row0 + 4u); let ra5 = a_row(bi, row0 + 5u); let ra6 = a_row(bi, row0 + 6u); let ra7 = a_row(bi, row0 + 7u);
    // The two vec4 column groups of this invocation, clamped at the edge.
    let n4 = p.n / 4u;
    let q0 = min(col0 / 4u, n4 - 1u);
    let q1 = min(col0 / 4u + 1u, n4 - 1u);
    var b0 = p.b_off + bi * p.b_bs;  // row l of B
    let rs = p.b_rs;
    var acc00 = mat4x4<f32>(); var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>(); var acc11 = mat4x4<f32>();
    for (var k4 = 0u; k4 < p.k / 4u; k4++) {
        let r0 = mat4x4<f32>(a[ra0 + k4], a[ra1 + k4], a[ra2 + k4], a[ra3 + k4]);
        let r1 = mat4x4<f32>(a[ra4 + k4], a[ra5 + k4], a[ra6 + k4], a[ra7 + k4]);
        let s0 = mat4x4<f32>(vec4<f32>(bm[b0 + q0]), vec4<f32>(bm[b0 + rs + q0]),
                             vec4<f32>(bm[b0 + 2u * rs + q0]), vec4<f32>(bm[b0 + 3u * rs + q0]));
        let s1 = mat4x4<f32>(vec4<f32>(bm[b0 + q1]), vec4<f32>(bm[b0 + rs + q1]),
                             vec4<f32>(bm[b0 + 2u * rs + q1]), vec4<f32>(bm[b0 + 3u * rs + q1]));
        acc00 += s0 * r0; acc01 += s1 * r0;
        acc10 += s0 * r1; acc11 += s1 * r1;
        b0 += 4u * rs;
    }
    store_block(bi, row0, col0, acc00); store_block(bi, row0, col0 + 4u, acc01);
    store_block(bi, row0 + 4u, col0, acc10); store_block(bi, row0 + 4u, col0 + 4u, acc11);
}

// nt: T = mat4x4(four rows of the [N, K] weight over 4 K) is B_block (K x N),
// so C^T += transpose(T) * R.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    let bi = gid.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let ra0 = a_row(bi, row0); let ra1 = a_row(bi, row0 + 1u); let ra2 = a_row(bi, row0 + 2u); let ra3 = a_row(bi, row0 + 3u);
    let ra4 = a_row(bi, row0 + 4u); let ra5 = a_row(bi, row0 + 5u); let ra6 = a_row(bi, row0 + 6u); let ra7 = a_row(bi, row0 + 7u);
    let bb = p.b_off + bi * p.b_bs;
    let nl = p.n - 1u;
    let rb0 = bb + min(col0, nl) * p.b_rs; let rb1 = bb + min(col0 + 1u, nl) * p.b_rs;
    let rb2 = bb + min(col0 + 2u, nl) * p.b_rs; let rb3 = bb + min(col0 + 3u, nl) * p.b_rs;
    let rb4 = bb + min(col0 + 4u, nl) * p.b_rs; let rb5 = bb + min(col0 + 5u, nl) * p.b_rs;
    let rb6 = bb + min(col0 + 6u, nl) * p.b_rs; let rb7 = bb + min(col0 + 7u, nl) * p.b_rs;
    var acc00 = mat4x4<f32>(); var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>(); var acc11 = mat4x4<f32>();
    for (var k4 = 0u; k4 < p.k / 4u; k4++) {
        let r0 = mat4x4<f32>(a[ra0 + k4], a[ra1 + k4], a[ra2 + k4], a[ra3 + k4]);
        let r1 = mat4x4<f32>(a[ra4 + k4], a[ra5 + k4], a[ra6 + k4], a[ra7 + k4]);
        let t0 = transpose(mat4x4<f32>(vec4<f32>(bm[rb0 + k4]), vec4<f32>(bm[rb1 + k4]),
                                       vec4<f32>(bm[rb2 + k4]), vec4<f32>(bm[rb3 + k4])));
        let t1 = transpose(mat4x4<f32>(vec4<f32>(bm[rb4 + k4]), vec4<f32>(bm[rb5 + k4]),
                                       vec4<f32>(bm[rb6 + k4]), vec4<f32>(bm[rb7 + k4])));
        acc00 += t0 * r0; acc01 += t1 * r0;
        acc10 += t0 * r1; acc11 += t1 * r1;
    }
    store_block(bi, row0, col0, acc00); store_block(bi, row0, col0 + 4u, acc01);
    store_block(bi, row0 + 4u, col0, acc10); store_block(bi, row0 + 4u, col0 + 4u, acc11);
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
