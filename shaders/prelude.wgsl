// Helpers every kernel file may use; kernels.rs prepends this file to each one.

// Bits of the lowest finite f32 (Tint rejects the literal): `bitcast<f32>(LOWEST)`.
const LOWEST: u32 = 0xff7fffffu;

// Invocation index in a 1-D problem laid out as a 2-D grid when it passes
// maxComputeWorkgroupsPerDimension: x + y * groups_x * wg (wg: the workgroup size).
fn flat_index(gid: vec3<u32>, groups: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * groups.x * wg;
}

// The row of a one-workgroup-per-row kernel on the same 2-D grid.
fn row_index(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.x + wid.y * groups.x;
}

// erf by Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7.
fn erf_approx(v: f32) -> f32 {
    let s = sign(v);
    let z = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return s * (1.0 - poly * exp(-z * z));
}
