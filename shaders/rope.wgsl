// Rotary position embedding of q or k rows in transformers' rotate-half layout:
//
//   y[i]       = x[i] cos θ_i - x[i + D/2] sin θ_i
//   y[i + D/2] = x[i + D/2] cos θ_i + x[i] sin θ_i        (i < D/2)
//
// cos/sin come from the host ([T, D/2] each, computed in f32 as PyTorch
// does), so no transcendental of a large angle is taken on the GPU.
// Grid: one invocation per (row, head, i).


struct RopeParams {
    t: u32,      // rows T
    half: u32,   // D / 2
    heads: u32,  // heads per row
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: RopeParams;

override WG: u32 = 64u;

@group(0) @binding(1) var<storage, read> rx: array<f32>;        // [T, H·D]
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;     // [T, D/2]
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;     // [T, D/2]
@group(0) @binding(4) var<storage, read_write> ry: array<f32>;  // [T, H·D]

@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = flat_index(gid, groups, WG);
    let half = p.half;
    if (n >= p.t * p.heads * half) {
        return;
    }
    let i = n % half;
    let h = (n / half) % p.heads;
    let row = n / (half * p.heads);
    let base = row * p.heads * 2u * half + h * 2u * half;
    let c = cos_t[row * half + i];
    let s = sin_t[row * half + i];
    let a = rx[base + i];
    let b = rx[base + i + half];
    ry[base + i] = a * c - b * s;
    ry[base + i + half] = b * c + a * s;
}

