//! The decoder ops: causal grouped-query attention over a KV cache (CPU
//! against a direct f64 computation; wgpu's prefill and split decode kernels
//! against the CPU at cache lengths 1, 63, 64, 65 and 1,000+), rotary
//! embedding, and the greedy next-token kernel with the repetition penalty.
//! Tolerance: 2e-5 absolute (f32 sums in another order; values O(1)).

mod common;

use common::{data, gpu, read};
use webfm::ops::decoder::{greedy_token, rope_inv_freq, KvCache, RopeScaling, RopeTable};
use webfm::{Device, Tensor};

const TOL: f32 = 2e-5;

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}: element {i}: {x} vs {y}");
    }
}

/// softmax(q·kᵀ/√D with keys j ≤ p0 + i) · v, in f64, from whole K and V.
#[allow(clippy::too_many_arguments)]
fn reference(q: &[f32], k: &[f32], v: &[f32], t: usize, p0: usize, heads: usize, kv_heads: usize, d: usize) -> Vec<f32> {
    let (w, kw) = (heads * d, kv_heads * d);
    let mut out = vec![0f32; t * w];
    for i in 0..t {
        for h in 0..heads {
            let g = h / (heads / kv_heads);
            let scores: Vec<f64> =
                (0..=p0 + i).map(|j| (0..d).map(|c| q[i * w + h * d + c] as f64 * k[j * kw + g * d + c] as f64).sum::<f64>() / (d as f64).sqrt()).collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            for c in 0..d {
                let a: f64 = e.iter().enumerate().map(|(j, x)| x * v[j * kw + g * d + c] as f64).sum();
                out[i * w + h * d + c] = (a / sum) as f32;
            }
        }
    }
    out
}

/// Fills a cache with `steps` appends of the given sizes and returns each
/// step's attention output (so prefill, chunked prefill and decode all run).
#[allow(clippy::too_many_arguments)]
fn run(dev: &Device, steps: &[usize], heads: usize, kv_heads: usize, d: usize, q: &[f32], k: &[f32], v: &[f32]) -> Vec<Vec<f32>> {
    let (w, kw) = (heads * d, kv_heads * d);
    let total: usize = steps.iter().sum();
    let mut cache = KvCache::new(dev, 1, total, kw).unwrap();
    let mut outs = Vec::new();
    let mut p = 0;
    for &t in steps {
        let qt = Tensor::from_f32(dev, &q[p * w..(p + t) * w], &[t, w]).unwrap();
        let kt = Tensor::from_f32(dev, &k[p * kw..(p + t) * kw], &[t, kw]).unwrap();
        let vt = Tensor::from_f32(dev, &v[p * kw..(p + t) * kw], &[t, kw]).unwrap();
        let y = cache.attend(0, &qt, &kt, &vt, heads, kv_heads).unwrap();
        cache.advance(t);
        outs.push(read(&y));
        p += t;
    }
    assert_eq!(cache.len(), total);
    outs
}

fn check(dev: &Device, name: &str, steps: &[usize], heads: usize, kv_heads: usize, d: usize, tol: f32) {
    let total: usize = steps.iter().sum();
    let (w, kw) = (heads * d, kv_heads * d);
    let seed = (total * 31 + heads * 7 + d) as u32;
    let (q, k, v) = (data(total * w, seed), data(total * kw, seed + 1), data(total * kw, seed + 2));
    let outs = run(dev, steps, heads, kv_heads, d, &q, &k, &v);
    let mut p = 0;
    for (s, (&t, out)) in steps.iter().zip(&outs).enumerate() {
        let want = reference(&q[p * w..(p + t) * w], &k, &v, t, p, heads, kv_heads, d);
        close(out, &want, tol, &format!("{name}: steps {steps:?}, step {s} ({t} new at {p}), {heads}/{kv_heads} heads of {d}"));
        p += t;
    }
}

#[test]
fn cpu_causal_attention_matches_a_direct_f64_computation() {
    for (steps, h, kvh, d) in [(&[1usize][..], 1, 1, 4), (&[5, 1, 1][..], 4, 2, 8), (&[7, 3, 1, 1][..], 9, 3, 64), (&[65, 1][..], 2, 1, 36)] {
        check(&Device::Cpu, "cpu", steps, h, kvh, d, TOL);
    }
}

#[test]
fn gpu_causal_attention_matches_the_cpu_at_cache_lengths_around_the_split() {
    let g = gpu();
    // Decode reads the whole cache split into chunks of 64 keys: lengths
    // 1, 63, 64, 65 and over 1,000 cross zero, one and many chunks.
    for total in [1usize, 63, 64, 65, 1031] {
        let steps: Vec<usize> = if total == 1 { vec![1] } else { vec![total - 1, 1] };
        for (h, kvh, d) in [(9, 3, 64), (4, 4, 128), (2, 1, 36)] {
            let (w, kw) = (h * d, kvh * d);
            let seed = (total + h + d) as u32;
            let (q, k, v) = (data(total * w, seed), data(total * kw, seed + 1), data(total * kw, seed + 2));
            let want = run(&Device::Cpu, &steps, h, kvh, d, &q, &k, &v);
            let got = run(&g, &steps, h, kvh, d, &q, &k, &v);
            for (s, (a, b)) in got.iter().zip(&want).enumerate() {
                close(a, b, TOL, &format!("cache length {total}, step {s}, {h}/{kvh} heads of {d}"));
            }
        }
    }
}

#[test]
fn gpu_prefill_matches_the_cpu_in_chunks_and_across_workgroups() {
    let g = gpu();
    // Prefill workgroups hold 64 queries and read keys in tiles of 16, in
    // splits of 256 keys: 130 queries span 3 workgroups; later chunks start
    // mid-cache; 2,000 keys of 64 and 1,030 of 128 are where one loop over
    // all keys went wrong on lavapipe.
    for (steps, h, kvh, d) in
        [(&[130usize][..], 3, 1, 64), (&[17, 40, 1, 1][..], 6, 2, 32), (&[2, 2][..], 1, 1, 4), (&[300, 700, 1000][..], 2, 1, 64), (&[1030][..], 1, 1, 128)]
    {
        let total: usize = steps.iter().sum();
        let (w, kw) = (h * d, kvh * d);
        let (q, k, v) = (data(total * w, 5), data(total * kw, 6), data(total * kw, 7));
        let want = run(&Device::Cpu, steps, h, kvh, d, &q, &k, &v);
        let got = run(&g, steps, h, kvh, d, &q, &k, &v);
        for (s, (a, b)) in got.iter().zip(&want).enumerate() {
            close(a, b, TOL, &format!("steps {steps:?}, step {s}, {h}/{kvh} heads of {d}"));
        }
    }
}

#[test]
fn a_cache_refuses_positions_past_its_capacity() {
    for dev in [Device::Cpu, gpu()] {
        let mut cache = KvCache::new(&dev, 1, 3, 4).unwrap();
        let x = Tensor::from_f32(&dev, &[0.0; 16], &[4, 4]).unwrap();
        let err = cache.attend(0, &x, &x, &x, 1, 1).err().expect("4 positions in a cache of 3").to_string();
        assert!(err.contains("holds 3 positions"), "{err}");
        let k = Tensor::from_f32(&dev, &[0.0; 8], &[1, 8]).unwrap();
        let q = Tensor::from_f32(&dev, &[0.0; 4], &[1, 4]).unwrap();
        assert!(cache.attend(0, &q, &k, &k, 1, 1).is_err(), "k wider than the cache");
    }
}

#[test]
fn rope_matches_the_rotate_half_formula_on_both_devices() {
    let (t, heads, d, p0) = (5usize, 3usize, 16usize, 1000usize);
    let inv = rope_inv_freq(d, 10000.0, &RopeScaling::None);
    let x = data(t * heads * d, 11);
    let mut want = vec![0f32; x.len()];
    for r in 0..t {
        for h in 0..heads {
            for i in 0..d / 2 {
                let angle = ((p0 + r) as f32 * inv[i]) as f64;
                let (a, b) = (x[r * heads * d + h * d + i] as f64, x[r * heads * d + h * d + i + d / 2] as f64);
                want[r * heads * d + h * d + i] = (a * angle.cos() - b * angle.sin()) as f32;
                want[r * heads * d + h * d + i + d / 2] = (b * angle.cos() + a * angle.sin()) as f32;
            }
        }
    }
    for dev in [Device::Cpu, gpu()] {
        let table = RopeTable::new(&dev, &inv, p0, t).unwrap();
        let y = Tensor::from_f32(&dev, &x, &[t, heads * d]).unwrap().rope(&table, heads).unwrap();
        close(&read(&y), &want, 1e-6, dev.kind());
    }
}

#[test]
fn llama3_and_linear_scaling_change_the_frequencies_as_transformers_does() {
    // transformers' _compute_llama3_parameters for D = 16, theta 500000,
    // factor 8, low 1, high 4, original context 32: wavelengths below 8 keep
    // their frequency, above 32 are divided by 8, in between blended.
    let base = rope_inv_freq(16, 500000.0, &RopeScaling::None);
    let l3 = rope_inv_freq(16, 500000.0, &RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 32.0 });
    for (b, s) in base.iter().zip(&l3) {
        let wavelen = 2.0 * std::f32::consts::PI / b;
        if wavelen < 8.0 {
            assert_eq!(b, s);
        } else if wavelen > 32.0 {
            assert!((s - b / 8.0).abs() <= 1e-12_f32.max(b * 1e-6), "{b} {s}");
        } else {
            assert!(*s < *b && *s > b / 8.0, "blended {s} between {b} and {}", b / 8.0);
        }
    }
    assert_eq!(base[0], 1.0);
    let lin = rope_inv_freq(16, 500000.0, &RopeScaling::Linear { factor: 4.0 });
    assert_eq!(lin[3], base[3] / 4.0);
}

#[test]
fn greedy_token_agrees_on_both_devices_with_the_penalty_and_ties() {
    let g = gpu();
    let v = 49152 + 17;
    let mut x = data(v, 3);
    x[777] = 5.0;
    x[40000] = 4.5;
    x[41000] = -9.0;
    x[41001] = -9.0;
    for (seen, penalty, want) in [(&[][..], 1.0, 777u32), (&[777u32][..], 1.2, 40000), (&[777u32][..], 1.05, 777)] {
        for dev in [Device::Cpu, g.clone()] {
            let t = Tensor::from_f32(&dev, &x, &[1, v]).unwrap();
            assert_eq!(pollster::block_on(greedy_token(&t, seen, penalty, None)).unwrap(), want, "{} seen {seen:?} penalty {penalty}", dev.kind());
        }
    }
    // Equal maxima: the smaller id, as torch.argmax.
    let mut y = vec![-1.0f32; 1000];
    y[900] = 2.0;
    y[300] = 2.0;
    for dev in [Device::Cpu, g.clone()] {
        let t = Tensor::from_f32(&dev, &y, &[1, 1000]).unwrap();
        assert_eq!(pollster::block_on(greedy_token(&t, &[], 1.0, None)).unwrap(), 300, "{}", dev.kind());
    }
}

#[test]
fn a_token_mask_rules_tokens_out_alike_on_both_devices() {
    let g = gpu();
    let v = 49152 + 17;
    let x = data(v, 5);
    // Allowed: every 7th id, and the last one (in the partial final word).
    let mut bits = vec![0u32; v.div_ceil(32)];
    let allowed: Vec<usize> = (0..v).filter(|i| i % 7 == 3 || *i == v - 1).collect();
    for &i in &allowed {
        bits[i / 32] |= 1 << (i % 32);
    }
    let best_allowed = |x: &[f32]| *allowed.iter().max_by(|&&a, &&b| x[a].total_cmp(&x[b]).then(b.cmp(&a))).unwrap() as u32;
    let mut peaked = x.clone();
    peaked[v - 1] = 50.0;
    peaked[1000] = 99.0; // the largest, but masked out
    for (logits, seen, penalty) in [(&x, &[][..], 1.0), (&peaked, &[][..], 1.0), (&peaked, &[(v - 1) as u32][..], 100.0)] {
        let mut want_logits = logits.clone();
        webfm::ops::decoder::penalize(&mut want_logits, seen, penalty);
        let want = best_allowed(&want_logits);
        for dev in [Device::Cpu, g.clone()] {
            let t = Tensor::from_f32(&dev, logits, &[1, v]).unwrap();
            let got = pollster::block_on(greedy_token(&t, seen, penalty, Some(&bits))).unwrap();
            assert_eq!(got, want, "{} penalty {penalty}", dev.kind());
        }
    }
    // A mask shorter than the logits is refused on the GPU, not read past.
    let t = Tensor::from_f32(&g, &x, &[1, v]).unwrap();
    let e = pollster::block_on(greedy_token(&t, &[], 1.0, Some(&bits[..10]))).unwrap_err().to_string();
    assert!(e.contains("mask of 10 words"), "{e}");
}
