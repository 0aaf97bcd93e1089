// GEMV: y[b] = x[b] x B[b], the M = 1 case of GEMM (one token in decode).
//
// Legend: b batch index, K inner size, N outputs. Same GemmParams and bindings as
// gemm.wgsl (A is the one-row x). Each invocation keeps TN outputs in
// registers and sums over its share of K (K split WG_K ways); the partial sums
// meet in workgroup memory after one barrier.

alias BT = f32; // webfm:storage-type

struct GemmParams {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bs: u32, a_rs: u32, a_cs: u32,   // x[b, l] = a[a_off + b*a_bs + l*a_cs]
    b_off: u32, b_bs: u32, b_rs: u32, b_cs: u32,   // B[b, l, j] = bm[b_off + b*b_bs + l*b_rs + j*b_cs]
    c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32, // y[b, j] = c[c_off + b*c_bs + j]
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // [B, 1, K], strided
@group(0) @binding(2) var<storage, read> bm: array<BT>;        // [B, K, N], strided
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // [B, 1, N], contiguous

override WG_N: u32 = 16u;  // invocations along N
override WG_K: u32 = 16u;  // invocations splitting K
const TN: u32 = 4u;        // outputs per invocation

var<workgroup> partial: array<f32, WG_N * WG_K * TN>;  // [WG_K, WG_N, TN]

@compute @workgroup_size(WG_N, WG_K, 1)
fn gemv(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let bi = wid.z;
    let col0 = (wid.x * WG_N + lid.x) * TN;
    var b_idx: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        b_idx[j] = p.b_off + bi * p.b_bs + min(col0 + j, p.n - 1u) * p.b_cs;
    }
    let x_base = p.a_off + bi * p.a_bs;
    var acc: array<f32, TN>;
    for (var l = lid.y; l < p.k; l += WG_K) {
        let xv = a[x_base + l * p.a_cs];
        let bk = l * p.b_rs;
        for (var j = 0u; j < TN; j++) {
            acc[j] = fma(xv, f32(bm[b_idx[j] + bk]), acc[j]);
        }
    }
    for (var j = 0u; j < TN; j++) {
        partial[(lid.y * WG_N + lid.x) * TN + j] = acc[j];
    }
    workgroupBarrier();
    if (lid.y == 0u) {
        for (var j = 0u; j < TN; j++) {
            var s = 0.0;
            for (var t = 0u; t < WG_K; t++) {
                s += partial[(t * WG_N + lid.x) * TN + j];
            }
            let col = col0 + j;
            if (col < p.n) {
                c[p.c_off + bi * p.c_bs + col] = s;
            }
        }
    }
}
