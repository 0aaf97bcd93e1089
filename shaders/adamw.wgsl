// AdamW (decoupled weight decay, as torch.optim.AdamW), one step over N elements:
// with g = grad * grad_scale,
//   m' = beta1 m + (1 - beta1) g,  v' = beta2 v + (1 - beta2) g^2,
//   p' = p (1 - lr wd) - lr (m' / (1 - beta1^t)) / (sqrt(v' / (1 - beta2^t)) + eps).
// The complements come computed in f64 (1 - 0.999 in f32 is off by 1e-5
// relative; torch computes it in double). Large N uses a 2-D grid.

struct AdamwParams {
    n: u32,                // N
    lr: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    decay: f32,            // 1 - lr * weight decay
    bias1: f32,            // 1 - beta1^t
    bias2: f32,            // 1 - beta2^t
    grad_scale: f32,       // the gradient's factor (clipping)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: AdamwParams;
@group(0) @binding(1) var<storage, read> param: array<f32>;          // [N]
@group(0) @binding(2) var<storage, read> grad: array<f32>;           // [N]
@group(0) @binding(3) var<storage, read> m: array<f32>;              // [N]
@group(0) @binding(4) var<storage, read> v: array<f32>;              // [N]
@group(0) @binding(5) var<storage, read_write> param_out: array<f32>; // [N]
@group(0) @binding(6) var<storage, read_write> m_out: array<f32>;     // [N]
@group(0) @binding(7) var<storage, read_write> v_out: array<f32>;     // [N]

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups, WG);
    if (i < p.n) {
        let g = grad[i] * p.grad_scale;
        let m1 = p.beta1 * m[i] + p.one_minus_beta1 * g;
        let v1 = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
        param_out[i] = param[i] * p.decay - p.lr * (m1 / p.bias1) / (sqrt(v1 / p.bias2) + p.eps);
        m_out[i] = m1;
        v_out[i] = v1;
    }
}
