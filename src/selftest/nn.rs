//! The model-level families of the op suite: encoder attention (padding
//! masks), causal attention over a KV cache (prefill and decode steps,
//! grouped KV heads), rotary embedding, embedding gather from float and
//! quantized tables held in row blocks.

use super::{case, case_n, Case, Input, ATTENTION, ELEMENTWISE};
use crate::ops::decoder::{rope_inv_freq, KvCache, RopeScaling, RopeTable};
use crate::ops::gather::{gather, Table};
use crate::ops::nn::{encoder_attention, SeqLens};
use crate::ops::quant::QTensor;
use crate::ops::reference as r;
use crate::ops::tensor::{Device, Tensor};
use crate::rng::Rng;

pub(super) async fn encoder_attention_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(6);
    let mut out = Vec::new();
    // (lens, T, heads, D): full and padded texts, an empty one, one token, D up to 128.
    let mut shapes = vec![(vec![1], 1, 1, 4), (vec![7, 3], 7, 2, 8), (vec![5, 0, 2], 5, 3, 16), (vec![33], 33, 2, 64)];
    if !quick {
        shapes.extend([(vec![65, 40], 65, 2, 32), (vec![9], 9, 1, 128)]);
    }
    for (lens, t, heads, d) in shapes {
        let b = lens.len();
        let shape = [b, t, heads * d];
        let inputs = [Input::new(&mut rng, &shape, -1.0, 1.0), Input::new(&mut rng, &shape, -1.0, 1.0), Input::new(&mut rng, &shape, -1.0, 1.0)];
        let lens2 = lens.clone();
        let op = move |x: &[Tensor]| encoder_attention(&x[0], &x[1], &x[2], &SeqLens::new(&x[0].device(), &lens2)?, heads);
        let reference = |i: &[Input]| r::encoder_attention(&i[0].data, &i[1].data, &i[2].data, &lens, t, heads, d);
        out.push(case(device, format!("encoder attention lens {lens:?} of {t}, {heads} heads of {d}"), &inputs, ATTENTION, &op, &reference).await);
    }
    out
}

pub(super) async fn causal_attention_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    // (steps, heads, KV heads, D): a prefill then decode steps, as generation
    // runs them; caches past one decode split (64 keys) and one prefill split (256).
    let mut shapes = vec![(vec![1], 1, 1, 4), (vec![5, 1, 1], 4, 2, 8), (vec![7, 3, 1], 3, 1, 16), (vec![63, 1, 1, 1], 6, 2, 32)];
    if !quick {
        shapes.extend([(vec![260, 1], 2, 1, 64), (vec![3, 1], 2, 2, 128)]);
    }
    for (steps, heads, kv_heads, d) in shapes {
        let total: usize = steps.iter().sum();
        let (w, kw) = (heads * d, kv_heads * d);
        // Inputs per step: q [s, H·D], k [s, KVH·D], v [s, KVH·D].
        let inputs: Vec<Input> = steps
            .iter()
            .flat_map(|&s| [Input::new(&mut rng, &[s, w], -1.0, 1.0), Input::new(&mut rng, &[s, kw], -1.0, 1.0), Input::new(&mut rng, &[s, kw], -1.0, 1.0)])
            .collect();
        let op = |x: &[Tensor]| -> crate::error::Result<Vec<Tensor>> {
            let mut cache = KvCache::new(&x[0].device(), 1, total, kw)?;
            let mut outs = Vec::new();
            for step in x.chunks(3) {
                outs.push(cache.attend(0, &step[0], &step[1], &step[2], heads, kv_heads)?);
                cache.advance(step[0].shape()[0]);
            }
            Ok(outs)
        };
        let reference = |i: &[Input]| {
            let cat = |at: usize| i.iter().skip(at).step_by(3).flat_map(|x| x.data.iter().copied()).collect::<Vec<f32>>();
            r::causal_attention(&cat(0), &cat(1), &cat(2), total, heads, kv_heads, d)
        };
        let name = format!("causal attention steps {steps:?}, {heads}/{kv_heads} heads of {d}");
        out.push(case_n(device, name, &inputs, ATTENTION, &op, &reference).await);
    }
    out
}

pub(super) async fn rope_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(8);
    let mut out = Vec::new();
    // (T, heads, D, first position, theta)
    let mut shapes = vec![(1, 1, 2, 0, 10_000.0), (7, 3, 8, 0, 10_000.0), (1, 9, 64, 35, 100_000.0), (33, 2, 16, 5, 500_000.0)];
    if !quick {
        shapes.push((257, 4, 128, 1000, 10_000.0));
    }
    for (t, heads, d, p0, theta) in shapes {
        let inv = rope_inv_freq(d, theta, &RopeScaling::None);
        let inputs = [Input::new(&mut rng, &[t, heads * d], -2.0, 2.0)];
        let op = |x: &[Tensor]| x[0].rope(&RopeTable::new(&x[0].device(), &inv, p0, t)?, heads);
        let reference = |i: &[Input]| r::rope(&i[0].data, heads, &inv, p0);
        out.push(case(device, format!("rope [{t}, {heads}x{d}] from position {p0}, theta {theta}"), &inputs, ELEMENTWISE, &op, &reference).await);
    }
    out
}

pub(super) async fn gather_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(9);
    let mut out = Vec::new();
    // (rows, cols, rows per block, quantized bits (0: f32), ids)
    let mut shapes = vec![(1, 4, 1, 0, 1), (33, 7, 33, 0, 9), (40, 64, 16, 0, 33), (33, 64, 33, 4, 7), (50, 96, 20, 8, 17)];
    if !quick {
        shapes.extend([(1031, 128, 300, 4, 257), (300, 384, 300, 8, 65)]);
    }
    for (rows, cols, per_block, bits, n) in shapes {
        let values = rng.uniform(rows * cols, -1.0, 1.0);
        let ids: Vec<u32> = (0..n).map(|_| (rng.next_f32() * rows as f32) as u32 % rows as u32).collect();
        let name = format!("gather {n} ids from [{rows}, {cols}] in blocks of {per_block}{}", if bits > 0 { format!(", q{bits}") } else { String::new() });
        // The reference rows: the values themselves, or their dequantization.
        let blocks: Vec<(usize, Vec<f32>, Option<crate::quant::QuantizedMatrix>)> = match (0..rows)
            .step_by(per_block)
            .map(|b| {
                let n = per_block.min(rows - b);
                let v = values[b * cols..(b + n) * cols].to_vec();
                let q = if bits > 0 { Some(crate::quant::quantize(&v, n, cols, bits, 32)?) } else { None };
                Ok((b, v, q))
            })
            .collect::<crate::error::Result<Vec<_>>>()
        {
            Ok(b) => b,
            Err(e) => {
                out.push(Case { name, ok: false, detail: format!("quantize: {e}") });
                continue;
            }
        };
        let table_rows: Vec<f32> = blocks.iter().flat_map(|(_, v, q)| q.as_ref().map_or_else(|| v.clone(), crate::quant::dequantize)).collect();
        let ids2 = ids.clone();
        let op = move |x: &[Tensor]| -> crate::error::Result<Tensor> {
            let device = x[0].device();
            let table = if bits > 0 {
                Table::Quant(
                    blocks.iter().map(|(b, _, q)| Ok((*b, QTensor::new(&device, q.as_ref().expect("quantized"))?))).collect::<crate::error::Result<_>>()?,
                )
            } else {
                Table::Float(
                    blocks.iter().map(|(b, v, _)| Ok((*b, Tensor::from_f32(&device, v, &[v.len() / cols, cols])?))).collect::<crate::error::Result<_>>()?,
                )
            };
            gather(&device, &table, rows, cols, &ids2)
        };
        let reference = |_: &[Input]| ids.iter().flat_map(|&i| table_rows[i as usize * cols..][..cols].to_vec()).collect();
        // One dummy input carries the device.
        let inputs = [Input::new(&mut rng, &[1], 0.0, 1.0)];
        out.push(case(device, name, &inputs, ELEMENTWISE, &op, &reference).await);
    }
    out
}
