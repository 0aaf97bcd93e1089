// Backward of the activations (elementwise.wgsl's forwards): dx = dy * f'(x).
//
// Legend: N elements; x is the forward input, dy the gradient of the output.
// Large N uses a 2-D grid: index = x + y * groups_x * WG.

struct ActBackwardParams {
    n: u32,  // N
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: ActBackwardParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [N]
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // [N]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // [N]

override WG: u32 = 256u;

// d/dv of 0.5 v (1 + erf(v / sqrt 2)) = Phi(v) + v phi(v).
@compute @workgroup_size(WG)
fn gelu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        let cdf = 0.5 * (1.0 + erf_approx(v * 0.70710678118654752));
        let pdf = 0.3989422804014327 * exp(-0.5 * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

// d/dv of 0.5 v (1 + tanh(u)), u = sqrt(2/pi) (v + 0.044715 v^3).
@compute @workgroup_size(WG)
fn gelu_tanh_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -10.0, 10.0);
        let t = tanh(u);
        let du = 0.7978845608028654 * (1.0 + 0.134145 * v * v);
        dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
    }
}

// d/dv of v sigmoid(v) = s (1 + v (1 - s)).
@compute @workgroup_size(WG)
fn silu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let v = x[i];
        let s = 1.0 / (1.0 + exp(-v));
        dx[i] = dy[i] * s * (1.0 + v * (1.0 - s));
    }
}

@compute @workgroup_size(WG)
fn relu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        dx[i] = select(0.0, dy[i], x[i] > 0.0);
    }
}
