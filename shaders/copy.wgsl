// Strided gather into a contiguous f32 tensor (up to 8 dims): makes a
// transposed or offset view contiguous, and widens f16 storage to f32.
// Large N uses a 2-D grid: index = x + y * groups_x * WG.

alias ST = f32; // webfm:storage-type

struct Params {
    n: u32,       // elements
    rank: u32,    // dims used in shape/strides
    offset: u32,  // first element of the source view
    _pad: u32,
    shape: array<vec4<u32>, 2>,    // dims, outermost first
    strides: array<vec4<u32>, 2>,  // source strides in elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<ST>;        // strided view
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // [N], contiguous

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var at = p.offset;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let size = p.shape[d / 4][d % 4];
        at += (rem % size) * p.strides[d / 4][d % 4];
        rem /= size;
    }
    dst[i] = f32(src[at]);
}
