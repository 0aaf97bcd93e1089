// Embedding lookup: out[t, :] = table[ids[t], :] for the ids that fall in
// this block of the table's rows, [begin, begin + rows); other rows of out
// are left alone, so a table split over several buffers (each under
// maxStorageBufferBindingSize) is gathered by one dispatch per block.
// `gather` reads a float table (f32, or f16 storage); `gather_q` an affine
// quantized one (docs/FORMAT.md): w = scale * code + bias per group.
// Large N uses a 2-D grid: index = x + y * groups_x * WG.

alias ST = f32; // webfm:storage-type

struct GatherParams {
    n: u32,      // elements of out: ids × cols
    cols: u32,   // C
    begin: u32,  // first table row held by this block
    rows: u32,   // rows held by this block
    group: u32,  // gather_q: group size G
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> table: array<ST>;        // [rows, C]
@group(0) @binding(2) var<storage, read> ids: array<u32>;         // [T]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [T, C]
@group(0) @binding(4) var<storage, read> packed: array<u32>;      // [rows, C*b/32]
@group(0) @binding(5) var<storage, read> scales: array<f32>;      // [rows, C/G]
@group(0) @binding(6) var<storage, read> biases: array<f32>;      // [rows, C/G]

override WG: u32 = 256u;
override BITS: u32 = 4u;

// Output element i: its column, and the table row it reads in this block
// (`hit` false when the id lies in another block, or i is past the end).
struct Pick {
    row: u32,
    c: u32,
    hit: bool,
}

fn pick(gid: vec3<u32>, groups: vec3<u32>) -> Pick {
    let i = flat_index(gid, groups, WG);
    if (i >= p.n) {
        return Pick(0u, 0u, false);
    }
    let id = ids[i / p.cols];
    return Pick(id - p.begin, i % p.cols, id >= p.begin && id - p.begin < p.rows);
}

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let at = pick(gid, groups);
    if (at.hit) {
        out[flat_index(gid, groups, WG)] = f32(table[at.row * p.cols + at.c]);
    }
}

// Element (row, c) of the quantized table.
fn dequant_at(row: u32, c: u32) -> f32 {
    let per_word = 32u / BITS;
    let word = packed[row * (p.cols / per_word) + c / per_word];
    let code = (word >> ((c % per_word) * BITS)) & ((1u << BITS) - 1u);
    let g = row * (p.cols / p.group) + c / p.group;
    return scales[g] * f32(code) + biases[g];
}

@compute @workgroup_size(WG)
fn gather_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let at = pick(gid, groups);
    if (at.hit) {
        out[flat_index(gid, groups, WG)] = dequant_at(at.row, at.c);
    }
}
