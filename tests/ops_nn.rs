//! The model-level ops on wgpu against the CPU path: encoder attention
//! (padding masks, odd sizes, q/k/v as column views of one fused projection),
//! column views and joins, tanh and relu. Tolerance: 1e-5 absolute (f32 sums
//! in a different order over at most 13 keys of O(1) values).

mod common;

use common::{data, gpu, read};
use webfm::ops::nn::{encoder_attention, SeqLens};
use webfm::{Device, Tensor};

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5, "{what}: element {i}: {x} vs {y}");
    }
}

#[test]
fn encoder_attention_matches_the_cpu() {
    let g = gpu();
    // (B, T, heads, D, lens)
    let cases: [(usize, usize, usize, usize, &[usize]); 4] = [(1, 1, 1, 4, &[1]), (3, 13, 3, 8, &[13, 5, 1]), (2, 7, 2, 36, &[7, 6]), (1, 70, 1, 128, &[69])];
    for (b, t, h, d, lens) in cases {
        let w = h * d;
        // One fused [B, T, 3W] projection; q, k, v are column views of it.
        let fused = data(b * t * 3 * w, (b * t * w) as u32);
        let run = |dev: &Device| {
            let x = Tensor::from_f32(dev, &fused, &[b, t, 3 * w]).unwrap();
            let (q, k, v) = (x.narrow_last(0, w).unwrap(), x.narrow_last(w, w).unwrap(), x.narrow_last(2 * w, w).unwrap());
            read(&encoder_attention(&q, &k, &v, &SeqLens::new(dev, lens).unwrap(), h).unwrap())
        };
        let (cpu, gpu_out) = (run(&Device::Cpu), run(&g));
        close(&gpu_out, &cpu, &format!("attention B={b} T={t} H={h} D={d} lens={lens:?}"));
        // Rows of padded queries attend to the same keys; a text's own rows
        // do not depend on another text's padding.
        if b > 1 {
            let alone = Tensor::from_f32(&Device::Cpu, &fused[..t * 3 * w], &[1, t, 3 * w]).unwrap();
            let (q, k, v) = (alone.narrow_last(0, w).unwrap(), alone.narrow_last(w, w).unwrap(), alone.narrow_last(2 * w, w).unwrap());
            close(&read(&encoder_attention(&q, &k, &v, &SeqLens::new(&Device::Cpu, &lens[..1]).unwrap(), h).unwrap()), &cpu[..t * w], "text 0 alone");
        }
    }
}

#[test]
fn attention_rejects_bad_arguments() {
    let x = Tensor::from_f32(&Device::Cpu, &[0.0; 24], &[1, 2, 12]).unwrap();
    assert!(encoder_attention(&x, &x, &x, &SeqLens::new(&Device::Cpu, &[3]).unwrap(), 3).err().unwrap().to_string().contains("lens"));
    assert!(encoder_attention(&x, &x, &x, &SeqLens::new(&Device::Cpu, &[2]).unwrap(), 5).is_err());
    let g = gpu();
    let y = Tensor::from_f32(&g, &[0.0; 24], &[1, 2, 12]).unwrap();
    // Head size 6 is not a multiple of 4: the GPU kernel says so.
    assert!(encoder_attention(&y, &y, &y, &SeqLens::new(&g, &[2]).unwrap(), 2).err().unwrap().to_string().contains("multiple of 4"));
}

#[test]
fn views_joins_and_activations_match_the_cpu() {
    let g = gpu();
    let v = data(5 * 9, 7);
    for dev in [Device::Cpu, g] {
        let x = Tensor::from_f32(&dev, &v, &[5, 9]).unwrap();
        let parts = [x.narrow_last(0, 4).unwrap(), x.narrow_last(4, 5).unwrap()];
        close(&read(&Tensor::cat_cols(&parts).unwrap()), &v, &format!("{}: cat of narrowed columns", dev.kind()));
        close(&read(&x.reshape(&[45]).unwrap()), &v, "reshape");
        close(&read(&x.tanh().unwrap()), &v.iter().map(|a| a.tanh()).collect::<Vec<_>>(), "tanh");
        close(&read(&x.relu().unwrap()), &v.iter().map(|a| a.max(0.0)).collect::<Vec<_>>(), "relu");
        let cols: Vec<f32> = v.chunks(9).flat_map(|r| r[4..].to_vec()).collect();
        close(&read(&parts[1]), &cols, "narrow_last");
    }
}
