// Workgroup reductions for the row kernels (one workgroup per row): kernels.rs
// prepends this file, after prelude.wgsl, to files that declare
// `override WG: u32` (a power of two). Every invocation gets the total.

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;

// Sum of `v` over the workgroup.
fn workgroup_sum(lane: u32, v: f32) -> f32 {
    red[lane] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] += red[lane + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// Sums of `u` and `v` over the workgroup, in one pass.
fn workgroup_sum2(lane: u32, u: f32, v: f32) -> vec2<f32> {
    red[lane] = u;
    red2[lane] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] += red[lane + s];
            red2[lane] += red2[lane + s];
        }
        workgroupBarrier();
    }
    let total = vec2<f32>(red[0], red2[0]);
    workgroupBarrier();
    return total;
}

// Largest `v` over the workgroup.
fn workgroup_max(lane: u32, v: f32) -> f32 {
    red[lane] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] = max(red[lane], red[lane + s]);
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}
