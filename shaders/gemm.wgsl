// GEMM: C[b] = A[b] x B[b] with f32 accumulation.
//
// Legend: b batch index, M rows of A and C, K inner size, N columns of B and C.
// A and B are read through strides in elements, so a transposed view needs no
// copy, and a batch stride of 0 shares one operand across the batch.
// B may be stored as f16 where the device has shader-f16 (see kernels.rs).
//
// `tiled`: every invocation keeps a TM x TN block of C in registers and reads
// A and B straight from global memory (register blocking, no shared memory:
// on CPU-emulated adapters shared memory and barriers cost more than they save).
// `naive`: one invocation per output, the benchmark floor.

alias BT = f32; // webfm:storage-type

struct GemmParams {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bs: u32, a_rs: u32, a_cs: u32,   // A[b, i, l] = a[a_off + b*a_bs + i*a_rs + l*a_cs]
    b_off: u32, b_bs: u32, b_rs: u32, b_cs: u32,   // B[b, l, j] = bm[b_off + b*b_bs + l*b_rs + j*b_cs]
    c_off: u32, c_bs: u32, _pad0: u32, _pad1: u32, // C[b, i, j] = c[c_off + b*c_bs + i*N + j]
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // [B, M, K], strided
@group(0) @binding(2) var<storage, read> bm: array<BT>;        // [B, K, N], strided
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // [B, M, N], contiguous

override WG_X: u32 = 8u;   // invocations along N in a workgroup
override WG_Y: u32 = 8u;   // invocations along M in a workgroup
const TM: u32 = 8u;        // rows of C per invocation
const TN: u32 = 8u;        // columns of C per invocation

@compute @workgroup_size(WG_X, WG_Y, 1)
fn tiled(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    let bi = gid.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    // Rows and columns past the edge read the last valid one; their sums are dropped.
    var a_idx: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        a_idx[i] = p.a_off + bi * p.a_bs + min(row0 + i, p.m - 1u) * p.a_rs;
    }
    var b_idx: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        b_idx[j] = p.b_off + bi * p.b_bs + min(col0 + j, p.n - 1u) * p.b_cs;
    }
    var acc: array<f32, TM * TN>;
    var ak = 0u;  // l * a_cs
    var bk = 0u;  // l * b_rs
    for (var l = 0u; l < p.k; l++) {
        var av: array<f32, TM>;
        var bv: array<f32, TN>;
        for (var i = 0u; i < TM; i++) {
            av[i] = a[a_idx[i] + ak];
        }
        for (var j = 0u; j < TN; j++) {
            bv[j] = f32(bm[b_idx[j] + bk]);
        }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
            }
        }
        ak += p.a_cs;
        bk += p.b_rs;
    }
    let c_base = p.c_off + bi * p.c_bs;
    for (var i = 0u; i < TM; i++) {
        let r = row0 + i;
        for (var j = 0u; j < TN; j++) {
            let col = col0 + j;
            if (r < p.m && col < p.n) {
                c[c_base + r * p.n + col] = acc[i * TN + j];
            }
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    let bi = gid.z;
    if (row >= p.m || col >= p.n) {
        return;
    }
    let a_row = p.a_off + bi * p.a_bs + row * p.a_rs;
    let b_col = p.b_off + bi * p.b_bs + col * p.b_cs;
    var sum = 0.0;
    for (var l = 0u; l < p.k; l++) {
        sum = fma(a[a_row + l * p.a_cs], f32(bm[b_col + l * p.b_rs]), sum);
    }
    c[p.c_off + bi * p.c_bs + row * p.n + col] = sum;
}
