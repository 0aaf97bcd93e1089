//! The backward ops of fine-tuning:
//! - the CPU formulas in f64 against central finite differences of the
//!   forward (activations, softmax, layer/RMS norm, cross-entropy), random
//!   shapes, relative tolerance 1e-6;
//! - a linear layer with LoRA (float and 4-bit base) against finite
//!   differences of its own forward: linear in each of x, A and B, so the
//!   difference quotient is exact up to f32 rounding (tolerance 2e-3 relative);
//! - wgpu against the CPU for every new kernel (tolerance 1e-5 relative);
//! - AdamW against torch's update written out in f64, the schedule, clipping.

mod common;

use candle_core::{DType as CD, Device as CDev, Tensor as C, D};
use common::{data, gpu, read};
use webfm::kinds::Act;
use webfm::models::params::Params;
use webfm::nn::{Linear, Quantization};
use webfm::ops::backward::{formulas, AdamW};
use webfm::train::lora::{self, LoraWeights};
use webfm::train::optim::{clip_factor, linear_schedule};
use webfm::weights::safetensors::{Dtype, TensorInfo};
use webfm::{Device, Tensor};

fn c64(v: &[f32], shape: &[usize]) -> C {
    C::from_vec(v.iter().map(|&x| x as f64).collect::<Vec<_>>(), shape, &CDev::Cpu).unwrap()
}

fn vec64(t: &C) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Central differences of `Σ f(x) ⊙ w` with respect to every element of `x`.
fn fd(f: impl Fn(&C) -> C, x: &C, w: &C, h: f64) -> Vec<f64> {
    let base = vec64(x);
    let shape = x.dims().to_vec();
    (0..base.len())
        .map(|i| {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let y = f(&C::from_vec(v, shape.as_slice(), &CDev::Cpu).unwrap());
                (y * w).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
            };
            (at(h) - at(-h)) / (2.0 * h)
        })
        .collect()
}

fn assert_rel(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * scale, "{what}: element {i}: {g} vs finite differences {w} (scale {scale})");
    }
}

fn gelu_erf(x: &C) -> C {
    x.gelu_erf().unwrap()
}

#[test]
fn formulas_match_finite_differences() {
    for (seed, shape) in [(1u32, vec![3usize, 7]), (2, vec![5, 33]), (3, vec![2, 3, 9])] {
        let n: usize = shape.iter().product();
        let x = c64(&data(n, seed), &shape);
        let w = c64(&data(n, seed + 100), &shape);
        let c = *shape.last().unwrap();

        type Forward = fn(&C) -> C;
        let acts: [(Act, Forward); 4] =
            [(Act::Gelu, gelu_erf), (Act::GeluTanh, |x| x.gelu().unwrap()), (Act::Silu, |x| x.silu().unwrap()), (Act::Relu, |x| x.relu().unwrap())];
        for (act, f) in acts {
            // ReLU's kink: keep inputs away from 0.
            let x = if act == Act::Relu { (x.abs().unwrap() + 0.1).unwrap().mul(&x.sign().unwrap()).unwrap() } else { x.clone() };
            let got = vec64(&formulas::act_backward(&x, &w, act).unwrap());
            assert_rel(&got, &fd(f, &x, &w, 1e-5), 1e-6, &format!("{act:?} {shape:?}"));
        }

        let softmax = |x: &C| {
            let e = x.broadcast_sub(&x.max_keepdim(D::Minus1).unwrap()).unwrap().exp().unwrap();
            e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap()
        };
        let got = vec64(&formulas::softmax_backward(&softmax(&x), &w).unwrap());
        assert_rel(&got, &fd(softmax, &x, &w, 1e-5), 1e-6, &format!("softmax {shape:?}"));

        let gamma = c64(&data(c, seed + 7), &[c]);
        let beta = c64(&data(c, seed + 8), &[c]);
        let eps = 1e-5;
        for rms in [false, true] {
            let norm = |x: &C, g: &C, b: &C| {
                let centred = if rms { x.clone() } else { x.broadcast_sub(&x.mean_keepdim(D::Minus1).unwrap()).unwrap() };
                let inv = (centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + eps).unwrap().sqrt().unwrap().recip().unwrap();
                let y = centred.broadcast_mul(&inv).unwrap().broadcast_mul(g).unwrap();
                if rms {
                    y
                } else {
                    y.broadcast_add(b).unwrap()
                }
            };
            let (dx, dg, db) = formulas::norm_backward(&x, &gamma, &w, eps, rms).unwrap();
            let what = format!("{} {shape:?}", if rms { "rms_norm" } else { "layer_norm" });
            assert_rel(&vec64(&dx), &fd(|x| norm(x, &gamma, &beta), &x, &w, 1e-5), 1e-6, &format!("{what} dx"));
            assert_rel(&vec64(&dg), &fd(|g| norm(&x, g, &beta), &gamma, &w, 1e-5), 1e-6, &format!("{what} dgamma"));
            match db {
                Some(db) => assert_rel(&vec64(&db), &fd(|b| norm(&x, &gamma, b), &beta, &w, 1e-5), 1e-6, &format!("{what} dbeta")),
                None => assert!(rms, "layer norm returns dbeta"),
            }
        }

        // Cross-entropy over rows, one ignored: the gradient of scale * Σ row losses.
        let rows = n / c;
        let x2 = x.reshape((rows, c)).unwrap();
        let targets: Vec<i64> = (0..rows).map(|r| if r == 1 { -100 } else { ((r * 5 + 3) % c) as i64 }).collect();
        let scale = 0.25;
        let (loss, grad) = formulas::cross_entropy(&x2, &targets, scale).unwrap();
        let ones = C::ones(rows, CD::F64, &CDev::Cpu).unwrap();
        let total = |x: &C| (formulas::cross_entropy(x, &targets, scale).unwrap().0 * scale).unwrap();
        assert_rel(&vec64(&grad), &fd(total, &x2, &ones, 1e-5), 1e-6, &format!("cross_entropy {shape:?}"));
        // The row loss is -log softmax[target], computed directly here.
        let probs = vec64(&softmax(&x2));
        for (r, &t) in targets.iter().enumerate() {
            let want = if t < 0 { 0.0 } else { -probs[r * c + t as usize].ln() };
            assert!((vec64(&loss)[r] - want).abs() < 1e-12, "cross_entropy row {r}: {} vs {want}", vec64(&loss)[r]);
        }
    }
}

/// A `[out, in]` linear layer with bias, from f32 values; quantized to 4 bits (group 32) when `q4`.
fn linear(device: &Device, w: &[f32], b: &[f32], out: usize, inp: usize, q4: bool) -> Linear {
    let mut p = Params::new(device);
    if q4 {
        p.quantize_on_load(Quantization { bits: 4, group: 32 });
    }
    for (name, v, shape) in [("l.weight", w, vec![out, inp]), ("l.bias", b, vec![out])] {
        let bytes: Vec<u8> = bytemuck::cast_slice(v).to_vec();
        let info = TensorInfo { name: name.into(), dtype: Dtype::F32, shape, start: 0, end: bytes.len() as u64 };
        p.add("test.safetensors", &info, &bytes).unwrap();
    }
    Linear::load(&p, "l", out, inp, true, q4.then_some(Quantization { bits: 4, group: 32 }), "test").unwrap()
}

fn sum_weighted(y: &Tensor, w: &[f32]) -> f64 {
    read(y).iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Central differences of `Σ f(v) ⊙ w` over each element of `v`, in f32 with step `h`.
fn fd32(v: &[f32], h: f32, f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    (0..v.len())
        .map(|i| {
            let mut a = v.to_vec();
            a[i] += h;
            let up = f(&a);
            a[i] -= 2.0 * h;
            (up - f(&a)) / (2.0 * h as f64)
        })
        .collect()
}

fn as64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn lora_linear_backward_matches_finite_differences() {
    let (t, inp, out, r) = (5, 64, 24, 4);
    let dev = Device::Cpu;
    for q4 in [false, true] {
        let lin = linear(&dev, &data(out * inp, 11), &data(out, 12), out, inp, q4);
        let (x, a, b, w) = (data(t * inp, 13), data(r * inp, 14), data(out * r, 15), data(t * out, 16));
        let scale = 2.0;
        let tensor = |v: &[f32], s: &[usize]| Tensor::from_f32(&dev, v, s).unwrap();
        let run = |x: &[f32], a: &[f32], b: &[f32]| {
            let l = LoraWeights { a: tensor(a, &[r, inp]), b: tensor(b, &[out, r]) };
            lora::forward(&lin, Some(&l), scale, &tensor(x, &[t, inp])).unwrap()
        };
        let (_, saved) = run(&x, &a, &b);
        let l = LoraWeights { a: tensor(&a, &[r, inp]), b: tensor(&b, &[out, r]) };
        let (dx, g) = lora::backward(&lin, Some(&l), scale, saved, &tensor(&w, &[t, out]), true).unwrap();
        let (da, db) = g.unwrap();
        let what = if q4 { "4-bit base" } else { "f32 base" };
        // Linear in each argument: a large step is exact up to rounding.
        assert_rel(&as64(&read(&dx.unwrap())), &fd32(&x, 0.5, |x| sum_weighted(&run(x, &a, &b).0, &w)), 2e-3, &format!("{what}: dx"));
        assert_rel(&as64(&read(&da)), &fd32(&a, 0.5, |a| sum_weighted(&run(&x, a, &b).0, &w)), 2e-3, &format!("{what}: dA"));
        assert_rel(&as64(&read(&db)), &fd32(&b, 0.5, |b| sum_weighted(&run(&x, &a, b).0, &w)), 2e-3, &format!("{what}: dB"));
    }
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}: element {i}: gpu {x} vs cpu {y}");
    }
}

#[test]
fn gpu_backward_kernels_match_the_cpu() {
    let g = gpu();
    let cpu = Device::Cpu;
    for (seed, rows, cols) in [(1u32, 1usize, 1usize), (2, 3, 7), (3, 33, 65), (4, 130, 257), (5, 2, 1031)] {
        let n = rows * cols;
        let (x, dy) = (data(n, seed), data(n, seed + 50));
        let on = |d: &Device, v: &[f32], s: &[usize]| Tensor::from_f32(d, v, s).unwrap();
        let both = |f: &dyn Fn(&Device) -> Vec<Tensor>, what: &str| {
            for (a, b) in f(&g).iter().zip(f(&cpu)) {
                close(&read(a), &read(&b), 1e-5, &format!("{what} [{rows}, {cols}]"));
            }
        };
        for act in [Act::Gelu, Act::GeluTanh, Act::Silu, Act::Relu] {
            both(&|d| vec![on(d, &x, &[rows, cols]).act_backward(&on(d, &dy, &[rows, cols]), act).unwrap()], &format!("{act:?}"));
        }
        both(&|d| vec![on(d, &x, &[rows, cols]).softmax().unwrap().softmax_backward(&on(d, &dy, &[rows, cols])).unwrap()], "softmax_backward");
        let gamma = data(cols, seed + 9);
        both(
            &|d| {
                let (dx, dg, db) = on(d, &x, &[rows, cols]).layer_norm_backward(&on(d, &gamma, &[cols]), &on(d, &dy, &[rows, cols]), 1e-5).unwrap();
                vec![dx, dg, db]
            },
            "layer_norm_backward",
        );
        both(
            &|d| {
                let (dx, dg) = on(d, &x, &[rows, cols]).rms_norm_backward(&on(d, &gamma, &[cols]), &on(d, &dy, &[rows, cols]), 1e-6).unwrap();
                vec![dx, dg]
            },
            "rms_norm_backward",
        );
        let targets: Vec<i64> = (0..rows).map(|r| if r % 5 == 4 { -100 } else { ((r * 7 + 1) % cols) as i64 }).collect();
        both(
            &|d| {
                let (loss, grad) = on(d, &x, &[rows, cols]).scale(4.0).unwrap().cross_entropy(&targets, 0.5).unwrap();
                vec![loss, grad]
            },
            "cross_entropy",
        );
        both(&|d| vec![on(d, &x, &[rows, cols]).sum_rows().unwrap(), on(d, &x, &[rows, cols]).sum_squares().unwrap()], "sum_rows, sum_squares");
        let opt = AdamW { lr: 0.01, weight_decay: 0.1, ..AdamW::default() };
        both(
            &|d| {
                let (m, v) = (
                    on(d, &data(n, seed + 3), &[rows, cols]),
                    on(d, &data(n, seed + 4), &[rows, cols]).mul(&on(d, &data(n, seed + 4), &[rows, cols])).unwrap(),
                );
                let (p, m, v) = opt.update(3, 0.02, 0.7, &on(d, &x, &[rows, cols]), &on(d, &dy, &[rows, cols]), &m, &v).unwrap();
                vec![p, m, v]
            },
            "adamw",
        );
        if cols % 4 == 0 || cols == 1 || cols == 65 {
            let heads = if cols % 5 == 0 { 5 } else { 1 };
            both(
                &|d| vec![on(d, &x, &[rows, cols]).split_heads(heads).unwrap(), on(d, &x, &[rows, cols]).split_heads(heads).unwrap().merge_heads().unwrap()],
                "split/merge heads",
            );
        }
    }
    // split_heads moves head h's columns to block h; merge_heads undoes it.
    let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let s = read(&Tensor::from_f32(&g, &x, &[2, 6]).unwrap().split_heads(3).unwrap());
    assert_eq!(s, vec![0., 1., 6., 7., 2., 3., 8., 9., 4., 5., 10., 11.]);
    assert_eq!(read(&Tensor::from_f32(&cpu, &x, &[2, 6]).unwrap().split_heads(3).unwrap()), s);
}

#[test]
fn adamw_is_torchs_update() {
    // torch.optim.AdamW, one parameter, written out in f64.
    let opt = AdamW { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
    let (p0, grads) = (vec![0.5f32, -1.5, 2.0, 0.0], [vec![0.1f32, -0.2, 0.3, 0.0], vec![-0.05f32, 0.4, 0.1, 1.0]]);
    let (mut p, mut m, mut v) = (as64(&p0), vec![0f64; 4], vec![0f64; 4]);
    let dev = Device::Cpu;
    let t = |x: &[f32]| Tensor::from_f32(&dev, x, &[4]).unwrap();
    let (mut tp, mut tm, mut tv) = (t(&p0), t(&[0.0; 4]), t(&[0.0; 4]));
    for (step, g) in grads.iter().enumerate() {
        let s = step as i32 + 1;
        for i in 0..4 {
            p[i] *= 1.0 - 0.01 * 0.01;
            m[i] = 0.9 * m[i] + 0.1 * g[i] as f64;
            v[i] = 0.999 * v[i] + 0.001 * (g[i] as f64).powi(2);
            let (mh, vh) = (m[i] / (1.0 - 0.9f64.powi(s)), v[i] / (1.0 - 0.999f64.powi(s)));
            p[i] -= 0.01 * mh / (vh.sqrt() + 1e-8);
        }
        (tp, tm, tv) = opt.update(s as u32, 0.01, 1.0, &tp, &t(g), &tm, &tv).unwrap();
    }
    assert_rel(&as64(&read(&tp)), &p, 1e-6, "AdamW parameters after 2 steps");
    assert_rel(&as64(&read(&tm)), &m, 1e-6, "AdamW first moment");
    assert_rel(&as64(&read(&tv)), &v, 1e-6, "AdamW second moment");

    // Warm-up then linear decay, as transformers' get_linear_schedule_with_warmup.
    let lrs: Vec<f64> = (0..6).map(|s| linear_schedule(1.0, s, 2, 6)).collect();
    assert_eq!(lrs, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25]);
    assert_eq!(clip_factor(0.5, 1.0), 1.0);
    assert!((clip_factor(4.0, 1.0) - 0.25).abs() < 1e-6);
}

/// `<L x, w> = <x, Lᵀ w>` for the linear maps whose backward is another op:
/// rope and its inverse table, repeat_heads and sum_head_groups,
/// split_heads and merge_heads — on the CPU and on wgpu (tolerance 1e-5 relative).
#[test]
fn backward_maps_are_adjoints_of_their_forwards() {
    use webfm::ops::decoder::{rope_inv_freq, RopeScaling, RopeTable};
    for device in [Device::Cpu, gpu()] {
        let dot = |a: &Tensor, b: &Tensor| -> f64 { read(a).iter().zip(read(b)).map(|(x, y)| *x as f64 * y as f64).sum() };
        let check = |lhs: f64, rhs: f64, what: &str| assert!((lhs - rhs).abs() <= 1e-5 * lhs.abs().max(1.0), "{what} on {}: {lhs} vs {rhs}", device.kind());
        let (t, heads, d) = (7, 3, 8);
        let x = Tensor::from_f32(&device, &data(t * heads * d, 1), &[t, heads * d]).unwrap();
        let w = Tensor::from_f32(&device, &data(t * heads * d, 2), &[t, heads * d]).unwrap();
        let inv = rope_inv_freq(d, 10000.0, &RopeScaling::None);
        let table = RopeTable::new(&device, &inv, 5, t).unwrap();
        check(dot(&x.rope(&table, heads).unwrap(), &w), dot(&x, &w.rope(&table.inverse().unwrap(), heads).unwrap()), "rope");
        check(dot(&x.split_heads(heads).unwrap(), &w.split_heads(heads).unwrap()), dot(&x, &w), "split_heads");
        let kv = Tensor::from_f32(&device, &data(t * d, 3), &[1, t, d]).unwrap();
        let g = Tensor::from_f32(&device, &data(heads * t * d, 4), &[heads, t, d]).unwrap();
        check(dot(&kv.repeat_heads(heads).unwrap(), &g), dot(&kv, &g.sum_head_groups(heads).unwrap()), "repeat_heads");
        let h = x.split_heads(heads).unwrap();
        assert_eq!(read(&h.merge_heads().unwrap()), read(&x), "merge_heads undoes split_heads");
    }
}
