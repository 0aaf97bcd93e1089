// Matmul against an affine-quantized weight, dequantized on the fly
// (`qgemv`, `qgemm`), and the weight expanded to f32 (`dequant`):
// C[r, j] = sum_k X[r, k] * W[j, k], W[j, k] = scale[j, k / G] * code[j, k] + bias[j, k / G].
//
// Legend: R rows of X and C (tokens), K inner size, N outputs (rows of W),
// b = BITS (4 or 8), G = group size (32, 64, 128; a multiple of 32, so a
// u32 word of codes never straddles a group). Layout (docs/FORMAT.md):
// row j of W is K*b/32 words; code i of a word sits at bits [i*b, (i+1)*b).
//
// Per word the sum splits as scale * dot(codes, x) + bias * sum(x): codes
// stay small integers in f32, exact.

struct QMatmulParams {
    rows: u32,  // R
    n: u32,     // N
    k: u32,     // K
    group: u32, // G
}

@group(0) @binding(0) var<uniform> p: QMatmulParams;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;   // [R, K], contiguous
@group(0) @binding(2) var<storage, read> w: array<u32>;         // [N, K*b/32]
@group(0) @binding(3) var<storage, read> scales: array<f32>;    // [N, K/G]
@group(0) @binding(4) var<storage, read> biases: array<f32>;    // [N, K/G]
@group(0) @binding(5) var<storage, read_write> c: array<f32>;   // [R, N]

override BITS: u32 = 4u;
override WG_X: u32 = 16u;  // qgemv: invocations splitting K; qgemm: along N
override WG_Y: u32 = 16u;  // qgemv: outputs per workgroup; qgemm: along R
override WG: u32 = 256u;   // dequant

fn words_per_row() -> u32 {
    return p.k * BITS / 32u;
}

// The codes of a word, as two vec4 (4-bit: 8 codes) or one (8-bit: `lo` only).
fn codes_lo(word: u32) -> vec4<f32> {
    if (BITS == 4u) {
        return vec4<f32>((vec4<u32>(word) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u));
    }
    return vec4<f32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
}
fn codes_hi(word: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(word) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u));
}

// Sum over one word of W row `j` times X row `r` (x4: index of the word's first vec4 of x).
fn word_dot(word: u32, x4: u32) -> vec2<f32> {
    // (dot(codes, x), sum(x))
    let xa = x[x4];
    var d = dot(codes_lo(word), xa);
    var s = dot(xa, vec4<f32>(1.0));
    if (BITS == 4u) {
        let xb = x[x4 + 1u];
        d += dot(codes_hi(word), xb);
        s += dot(xb, vec4<f32>(1.0));
    }
    return vec2<f32>(d, s);
}

var<workgroup> partial: array<f32, WG_X * WG_Y>;

// One row of X (decode): invocation (x, y) sums words x, x + WG_X, ... of
// output row wid.x * WG_Y + y; the WG_X partial sums meet after one barrier.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn qgemv(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let r = wid.z;
    let j = wid.x * WG_Y + lid.y;
    let jj = min(j, p.n - 1u);
    let wpr = words_per_row();
    let gpr = p.k / p.group;
    let codes_per_word = 32u / BITS;
    var acc = 0.0;
    for (var t = lid.x; t < wpr; t += WG_X) {
        let k0 = t * codes_per_word;
        let g = jj * gpr + k0 / p.group;
        let ds = word_dot(w[jj * wpr + t], (r * p.k + k0) / 4u);
        acc += scales[g] * ds.x + biases[g] * ds.y;
    }
    partial[lid.y * WG_X + lid.x] = acc;
    workgroupBarrier();
    if (lid.x == 0u && j < p.n) {
        var s = 0.0;
        for (var i = 0u; i < WG_X; i++) {
            s += partial[lid.y * WG_X + i];
        }
        c[r * p.n + j] = s;
    }
}

// Many rows (prefill, batches): each invocation computes a 4 x 4 block of C
// (4 rows of X, 4 outputs) in named registers, a word at a time.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn qgemm(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * 4u;
    let r0 = gid.y * 4u;
    if (j0 >= p.n || r0 >= p.rows) {
        return;
    }
    let wpr = words_per_row();
    let gpr = p.k / p.group;
    let codes_per_word = 32u / BITS;
    // Rows and outputs past the edge repeat the last one; their sums are dropped.
    let ja = min(j0, p.n - 1u); let jb = min(j0 + 1u, p.n - 1u);
    let jc = min(j0 + 2u, p.n - 1u); let jd = min(j0 + 3u, p.n - 1u);
    let xa = min(r0, p.rows - 1u) * p.k / 4u; let xb = min(r0 + 1u, p.rows - 1u) * p.k / 4u;
    let xc = min(r0 + 2u, p.rows - 1u) * p.k / 4u; let xd = min(r0 + 3u, p.rows - 1u) * p.k / 4u;
    var acc = mat4x4<f32>();  // column i: C[r0 + i, j0..j0+4]
    for (var t = 0u; t < wpr; t++) {
        let k0 = t * codes_per_word;
        let q = k0 / 4u;
        let g = k0 / p.group;
        // Dequantized W[j, k0..k0+4] for the four outputs, as matrix columns.
        let sa = scales[ja * gpr + g]; let ba = biases[ja * gpr + g];
        let sb = scales[jb * gpr + g]; let bb = biases[jb * gpr + g];
        let sc = scales[jc * gpr + g]; let bc = biases[jc * gpr + g];
        let sd = scales[jd * gpr + g]; let bd = biases[jd * gpr + g];
        let wa = w[ja * wpr + t]; let wb = w[jb * wpr + t]; let wc = w[jc * wpr + t]; let wd = w[jd * wpr + t];
        let lo = mat4x4<f32>(codes_lo(wa) * sa + ba, codes_lo(wb) * sb + bb, codes_lo(wc) * sc + bc, codes_lo(wd) * sd + bd);
        acc += transpose(lo) * mat4x4<f32>(x[xa + q], x[xb + q], x[xc + q], x[xd + q]);
        if (BITS == 4u) {
            let hi = mat4x4<f32>(codes_hi(wa) * sa + ba, codes_hi(wb) * sb + bb, codes_hi(wc) * sc + bc, codes_hi(wd) * sd + bd);
            acc += transpose(hi) * mat4x4<f32>(x[xa + q + 1u], x[xb + q + 1u], x[xc + q + 1u], x[xd + q + 1u]);
        }
    }
    for (var i = 0u; i < 4u; i++) {
        for (var jj = 0u; jj < 4u; jj++) {
            if (r0 + i < p.rows && j0 + jj < p.n) {
                c[(r0 + i) * p.n + j0 + jj] = acc[i][jj];
            }
        }
    }
}

// Element (row, col) of W.
fn dequant_at(row: u32, col: u32) -> f32 {
    let per_word = 32u / BITS;
    let word = w[row * (p.k / per_word) + col / per_word];
    let code = (word >> ((col % per_word) * BITS)) & ((1u << BITS) - 1u);
    let g = row * (p.k / p.group) + col / p.group;
    return scales[g] * f32(code) + biases[g];
}

// The whole weight, row by row: c = W [N, K] in f32 (the quantized matmul's
// many-rows path multiplies this with the f32 GEMM). x is unused; N * K
// elements, a 2-D grid when large.
@compute @workgroup_size(WG)
fn dequant(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n * p.k) {
        c[i] = dequant_at(i / p.k, i % p.k);
    }
}
