//! The training families of the op suite: every backward kernel (activation,
//! softmax, layer and RMS norm, cross-entropy) and AdamW, on the CPU against
//! the f64 formulas of `ops::reference`, on the GPU against the CPU backend.

use super::{case, case_n, Case, Input, BACKWARD, OPTIMIZER};
use crate::kinds::Act;
use crate::ops::backward::AdamW;
use crate::ops::reference as r;
use crate::ops::tensor::{Device, Tensor};
use crate::rng::Rng;

pub(super) async fn backward_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(10);
    let mut out = Vec::new();
    let mut shapes = vec![vec![1, 1], vec![7, 33], vec![3, 257], vec![2, 3, 7]];
    if !quick {
        shapes.push(vec![65_537, 3]); // more rows than one grid dimension holds
    }
    for shape in shapes {
        let c = shape[shape.len() - 1];
        // Columns offset by -2, 0, 2, ...: every row has a spread, so that
        // the norms' backward (which divides by the row's deviation) stays
        // well conditioned even for rows of 1 to 3 values.
        let mut x = Input::new(&mut rng, &shape, -1.0, 1.0);
        x.data.iter_mut().enumerate().for_each(|(i, v)| *v += 2.0 * ((i % c) % 3) as f32 - 2.0);
        let dy = Input::new(&mut rng, &shape, -1.0, 1.0);
        for act in [Act::Gelu, Act::GeluTanh, Act::Silu, Act::Relu] {
            let inputs = [Input { data: x.data.clone(), shape: shape.clone(), f16: false }, Input { data: dy.data.clone(), shape: shape.clone(), f16: false }];
            let op = |t: &[Tensor]| t[0].act_backward(&t[1], act);
            let reference = |i: &[Input]| r::act_backward(&i[0].data, &i[1].data, act);
            out.push(case(device, format!("{act:?} backward {shape:?}"), &inputs, BACKWARD, &op, &reference).await);
        }
        // Softmax backward from the softmax's output.
        let y = Input { data: r::softmax(&x.data, c), shape: shape.clone(), f16: false };
        let inputs = [y, Input { data: dy.data.clone(), shape: shape.clone(), f16: false }];
        let op = |t: &[Tensor]| t[0].softmax_backward(&t[1]);
        let reference = |i: &[Input]| r::softmax_backward(&i[0].data, &i[1].data, c);
        out.push(case(device, format!("softmax backward {shape:?}"), &inputs, BACKWARD, &op, &reference).await);
        // Norms: dx, dgamma, dbeta.
        let gamma = Input::new(&mut rng, &[c], 0.5, 1.5);
        let inputs =
            [Input { data: x.data.clone(), shape: shape.clone(), f16: false }, gamma, Input { data: dy.data.clone(), shape: shape.clone(), f16: false }];
        let ln = |t: &[Tensor]| -> crate::error::Result<Vec<Tensor>> {
            let (dx, dg, db) = t[0].layer_norm_backward(&t[1], &t[2], 1e-5)?;
            Ok(vec![dx, dg, db])
        };
        let ln_ref = |i: &[Input]| {
            let (dx, dg, db) = r::norm_backward(&i[0].data, &i[1].data, &i[2].data, 1e-5, false);
            [dx, dg, db].concat()
        };
        out.push(case_n(device, format!("layer_norm backward {shape:?}"), &inputs, BACKWARD, &ln, &ln_ref).await);
        let rms = |t: &[Tensor]| -> crate::error::Result<Vec<Tensor>> {
            let (dx, dg) = t[0].rms_norm_backward(&t[1], &t[2], 1e-6)?;
            Ok(vec![dx, dg])
        };
        let rms_ref = |i: &[Input]| {
            let (dx, dg, _) = r::norm_backward(&i[0].data, &i[1].data, &i[2].data, 1e-6, true);
            [dx, dg].concat()
        };
        out.push(case_n(device, format!("rms_norm backward {shape:?}"), &inputs, BACKWARD, &rms, &rms_ref).await);
        let frozen = |t: &[Tensor]| t[0].norm_input_grad(&t[1], &t[2], 1e-5, false);
        let frozen_ref = |i: &[Input]| r::norm_backward(&i[0].data, &i[1].data, &i[2].data, 1e-5, false).0;
        out.push(case(device, format!("layer_norm input grad {shape:?}"), &inputs, BACKWARD, &frozen, &frozen_ref).await);
    }
    // Cross-entropy on [R, C] logits, an ignored row among them.
    for (rows, classes) in [(1, 2), (7, 33), (5, 1031)] {
        let inputs = [Input::new(&mut rng, &[rows, classes], -6.0, 6.0)];
        let targets: Vec<i64> = (0..rows).map(|i| if i == 2 { -100 } else { ((i * 7 + 3) % classes) as i64 }).collect();
        let scale = 1.0 / targets.iter().filter(|&&t| t >= 0).count() as f32;
        let op = |t: &[Tensor]| -> crate::error::Result<Vec<Tensor>> {
            let (loss, grad) = t[0].cross_entropy(&targets, scale)?;
            Ok(vec![loss, grad])
        };
        let reference = |i: &[Input]| {
            let (loss, grad) = r::cross_entropy(&i[0].data, &targets, classes, scale);
            [loss, grad].concat()
        };
        out.push(case_n(device, format!("cross_entropy [{rows}, {classes}]"), &inputs, BACKWARD, &op, &reference).await);
    }
    out
}

pub(super) async fn adamw_cases(device: &Device, quick: bool) -> Vec<Case> {
    let mut rng = Rng::new(11);
    let mut out = Vec::new();
    let mut sizes = vec![1, 7, 257];
    if !quick {
        sizes.push(70_001);
    }
    let cfg = AdamW { weight_decay: 0.05, ..AdamW::default() };
    for n in sizes {
        for (t, lr, grad_scale) in [(1, 1e-3, 1.0), (7, 3e-4, 0.25)] {
            // Moments as after a few steps: m of either sign, v positive.
            let inputs = [
                Input::new(&mut rng, &[n], -1.0, 1.0),
                Input::new(&mut rng, &[n], -2.0, 2.0),
                Input::new(&mut rng, &[n], -0.1, 0.1),
                Input::new(&mut rng, &[n], 0.0, 0.05),
            ];
            let op = |x: &[Tensor]| -> crate::error::Result<Vec<Tensor>> {
                let (p, m, v) = cfg.update(t, lr, grad_scale, &x[0], &x[1], &x[2], &x[3])?;
                Ok(vec![p, m, v])
            };
            let reference = |i: &[Input]| r::adamw(&i[0].data, &i[1].data, &i[2].data, &i[3].data, t, lr, grad_scale, &cfg).concat();
            out.push(case_n(device, format!("adamw [{n}] step {t}, lr {lr}, gradient x{grad_scale}"), &inputs, OPTIMIZER, &op, &reference).await);
        }
    }
    out
}
