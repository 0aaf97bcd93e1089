// Elementwise ops over contiguous f32 tensors of N elements.
//
// Binary ops broadcast the right operand by repetition: y has R elements, R
// divides N (the right operand's shape is a suffix of the left's, e.g. a bias
// [C] against x [T, C]). Large N uses a 2-D grid: index = x + y * groups_x * WG.

struct ElementwiseParams {
    n: u32,       // elements of x and out
    rhs_n: u32,   // elements of y (binary ops)
    scalar: f32,  // the factor of `scale`
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ElementwiseParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [N]
@group(0) @binding(2) var<storage, read> y: array<f32>;         // [R]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [N]

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        out[i] = x[i] + y[i % p.rhs_n];
    }
}

@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        out[i] = x[i] * y[i % p.rhs_n];
    }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        out[i] = x[i] * p.scalar;
    }
}

// GELU with the exact erf: 0.5 * v * (1 + erf(v / sqrt(2))).
@compute @workgroup_size(WG)
fn gelu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        out[i] = 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752));
    }
}

// GELU with the tanh approximation (GPT-2's `gelu_new`):
// 0.5 * v * (1 + tanh(sqrt(2/pi) * (v + 0.044715 v^3))). The tanh argument is
// clamped to ±10, where tanh is ±1 in f32, so no implementation overflows.
@compute @workgroup_size(WG)
fn gelu_tanh(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -10.0, 10.0);
        out[i] = 0.5 * v * (1.0 + tanh(u));
    }
}

// SiLU: v * sigmoid(v).
@compute @workgroup_size(WG)
fn silu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        out[i] = v / (1.0 + exp(-v));
    }
}

@compute @workgroup_size(WG)
fn tanh_(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        out[i] = tanh(x[i]);
    }
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        out[i] = max(x[i], 0.0);
    }
}
