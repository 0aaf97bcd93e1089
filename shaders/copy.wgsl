// Between a strided view (up to 8 dims: an offset, a shape and strides in
// elements) and a contiguous f32 tensor of the same N elements:
//   copy:  dst[i] = src[view(i)], which makes a transposed or offset view
//          contiguous and widens f16 storage to f32;
//   place: dst[view(i)] = src[i], e.g. y [R, C] into columns [col, col + C)
//          of out [R, W] (offset col, shape [R, C], strides [W, 1]): one
//          column block of a linear layer whose weight was split.
// Large N uses a 2-D grid: index = x + y * groups_x * WG.

alias ST = f32; // webfm:storage-type

struct CopyParams {
    n: u32,       // elements
    rank: u32,    // dims used in shape/strides
    offset: u32,  // first element of the strided view
    _pad: u32,
    shape: array<vec4<u32>, 2>,    // dims, outermost first
    strides: array<vec4<u32>, 2>,  // the view's strides in elements
}

@group(0) @binding(0) var<uniform> p: CopyParams;
@group(0) @binding(1) var<storage, read> src: array<ST>;        // copy: the strided view; place: [N]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // copy: [N]; place: the strided view

override WG: u32 = 256u;

// Element i of the contiguous side, as an index into the strided view.
fn view_index(i: u32) -> u32 {
    var rem = i;
    var at = p.offset;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let size = p.shape[d / 4][d % 4];
        at += (rem % size) * p.strides[d / 4][d % 4];
        rem /= size;
    }
    return at;
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i >= p.n) {
        return;
    }
    dst[i] = f32(src[view_index(i)]);
}

@compute @workgroup_size(WG)
fn place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i >= p.n) {
        return;
    }
    dst[view_index(i)] = f32(src[i]);
}
