//! The typed interface to the WGSL in `shaders/`: each file's parameter block
//! (a `#[repr(C)]` struct mirroring its WGSL struct), its bindings (named
//! constants), its entry points (an enum), and a cache of compiled pipelines
//! keyed by entry point, storage type and the `override` constants.
//! `layout_tests` checks all of it against the shaders with naga.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::decoder::{CausalParams, RopeParams, SampleParams};
use super::nn::{AttentionParams, GatherParams};
use super::ops::{CopyParams, ElementwiseParams, GemmParams, NormParams, SoftmaxParams, Vec4GemmParams};
use super::qops::QMatmulParams;
use super::train::{ActBackwardParams, AdamwParams, LossParams};
use crate::error::{Error, Result};

/// A kernel's parameter block, bound at binding 0 as a uniform: a
/// `#[repr(C)]` struct whose fields are the WGSL struct's (same names, order,
/// offsets and size; see `layout_tests`). Made by [`uniform!`](crate::gpu::kernels::uniform).
pub(crate) trait Uniform: bytemuck::Pod {
    /// The WGSL struct's name.
    const NAME: &'static str;
    /// Each field's name, byte offset and Rust type, in order.
    #[cfg(test)]
    const FIELDS: &'static [(&'static str, usize, &'static str)];
}

/// Declares a kernel's parameter block: a `#[repr(C)]` `Pod` struct and its
/// [`Uniform`] impl, the fields listed once.
macro_rules! uniform {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        // The fields are read by the GPU, not by Rust.
        #[allow(dead_code)]
        pub(crate) struct $name {
            $($(#[$fm])* pub(crate) $field: $ty),*
        }
        impl $crate::gpu::kernels::Uniform for $name {
            const NAME: &'static str = stringify!($name);
            #[cfg(test)]
            const FIELDS: &'static [(&'static str, usize, &'static str)] = &[$((stringify!($field), std::mem::offset_of!($name, $field), stringify!($ty))),*];
        }
    };
}
pub(crate) use uniform;

/// A storage binding of one shader: its `@binding` number and whether the
/// WGSL variable is `read_write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Binding {
    pub(crate) shader: Shader,
    pub(crate) index: u32,
    pub(crate) writable: bool,
}

/// The uniform (a [`Uniform`]) is binding 0 in every file.
pub(crate) const UNIFORM_BINDING: u32 = 0;

/// Declares the shader files: for each, its source, its parameter type, a
/// module of binding constants named as the WGSL variables (upper case), and
/// its entry points as variants of [`Entry`].
macro_rules! shaders {
    ($(
        $(#[$doc:meta])*
        $shader:ident = $file:literal, prelude [$($pre:literal),*], $params:ty,
            mod $bind:ident { $($b:ident: $access:ident $n:literal),* $(,)? },
            entries { $($entry:ident = $ename:literal),* $(,)? };
    )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum Shader {
            $($(#[$doc])* $shader),*
        }

        impl Shader {
            #[cfg(test)]
            pub(crate) const ALL: &'static [Shader] = &[$(Shader::$shader),*];

            pub(crate) fn file(self) -> &'static str {
                match self { $(Shader::$shader => $file),* }
            }

            /// The file and the preludes put before it, in order.
            fn sources(self) -> &'static [&'static str] {
                match self {
                    $(Shader::$shader => &[$(include_str!(concat!("../../shaders/", $pre)),)* include_str!(concat!("../../shaders/", $file))]),*
                }
            }

            /// The type of the parameter block ([`Uniform`]).
            pub(crate) fn uniform_type(self) -> TypeId {
                match self { $(Shader::$shader => TypeId::of::<$params>()),* }
            }

            /// The parameter block's name, size and fields.
            #[cfg(test)]
            pub(crate) fn uniform_layout(self) -> (&'static str, usize, &'static [(&'static str, usize, &'static str)]) {
                match self { $(Shader::$shader => (<$params as Uniform>::NAME, std::mem::size_of::<$params>(), <$params as Uniform>::FIELDS)),* }
            }

            /// The binding constants, named as in Rust.
            #[cfg(test)]
            pub(crate) fn bindings(self) -> &'static [(&'static str, Binding)] {
                match self { $(Shader::$shader => &[$((stringify!($b), $bind::$b)),*]),* }
            }
        }

        $(
            #[doc = concat!("Bindings of `shaders/", $file, "`.")]
            #[allow(dead_code)]
            pub(crate) mod $bind {
                use super::{Binding, Shader};
                $(pub(crate) const $b: Binding = Binding { shader: Shader::$shader, index: $n, writable: shaders!(@writable $access) };)*
            }
        )*

        /// Every entry point of every file.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum Entry {
            $($($entry),*),*
        }

        impl Entry {
            #[cfg(test)]
            pub(crate) const ALL: &'static [Entry] = &[$($(Entry::$entry),*),*];

            pub(crate) fn shader(self) -> Shader {
                match self { $($(Entry::$entry => Shader::$shader,)*)* }
            }

            /// The WGSL function's name.
            pub(crate) fn name(self) -> &'static str {
                match self { $($(Entry::$entry => $ename,)*)* }
            }
        }
    };
    (@writable read) => { false };
    (@writable write) => { true };
}

shaders! {
    /// Tiled and naive GEMM over strided operands.
    Gemm = "gemm.wgsl", prelude ["prelude.wgsl"], GemmParams,
        mod gemm { A: read 1, BM: read 2, C: write 3 },
        entries { Tiled = "tiled", Naive = "naive" };
    /// GEMM and GEMV with vec4 loads.
    GemmVec4 = "gemm_vec4.wgsl", prelude ["prelude.wgsl"], Vec4GemmParams,
        mod gemm_vec4 { A: read 1, BM: read 2, C: write 3 },
        entries { Nn = "nn", Nt = "nt", GemvNn = "gemv_nn", GemvNt = "gemv_nt" };
    /// GEMV over strided operands.
    Gemv = "gemv.wgsl", prelude ["prelude.wgsl"], GemmParams,
        mod gemv { A: read 1, BM: read 2, C: write 3 },
        entries { Gemv = "gemv" };
    Elementwise = "elementwise.wgsl", prelude ["prelude.wgsl"], ElementwiseParams,
        mod elementwise { X: read 1, Y: read 2, OUT: write 3 },
        entries { Add = "add", Mul = "mul", Scale = "scale", Gelu = "gelu", GeluTanh = "gelu_tanh", Silu = "silu", Tanh = "tanh_", Relu = "relu" };
    /// Strided views to and from contiguous tensors.
    Copy = "copy.wgsl", prelude ["prelude.wgsl"], CopyParams,
        mod copy { SRC: read 1, DST: write 2 },
        entries { Copy = "copy", Place = "place" };
    Softmax = "softmax.wgsl", prelude ["prelude.wgsl", "reduce.wgsl"], SoftmaxParams,
        mod softmax { X: read 1, OUT: write 2 },
        entries { Softmax = "softmax" };
    Norm = "norm.wgsl", prelude ["prelude.wgsl", "reduce.wgsl"], NormParams,
        mod norm { X: read 1, GAMMA: read 2, BETA: read 3, OUT: write 4 },
        entries { LayerNorm = "layer_norm", RmsNorm = "rms_norm" };
    /// The quantized family: fused dequantizing matmuls and dequantization.
    QMatmul = "qmatmul.wgsl", prelude ["prelude.wgsl"], QMatmulParams,
        mod qmatmul { X: read 1, W: read 2, SCALES: read 3, BIASES: read 4, C: write 5 },
        entries { Qgemv = "qgemv", Qgemm = "qgemm", Dequant = "dequant" };
    Embedding = "embedding.wgsl", prelude ["prelude.wgsl"], GatherParams,
        mod embedding { TABLE: read 1, IDS: read 2, OUT: write 3, PACKED: read 4, SCALES: read 5, BIASES: read 6 },
        entries { Gather = "gather", GatherQ = "gather_q" };
    Attention = "attention.wgsl", prelude ["prelude.wgsl"], AttentionParams,
        mod attention { Q: read 1, K: read 2, V: read 3, LENS: read 4, OUT: write 5 },
        entries { Encoder = "encoder" };
    Decoder = "decoder.wgsl", prelude ["prelude.wgsl"], CausalParams,
        mod decoder { Q: read 1, KC: read 2, VC: read 3, OUT: write 4, STATS: write 5 },
        entries { Prefill = "prefill", DecodeSplit = "decode_split", Reduce = "reduce" };
    Rope = "rope.wgsl", prelude ["prelude.wgsl"], RopeParams,
        mod rope { RX: read 1, COS_T: read 2, SIN_T: read 3, RY: write 4 },
        entries { Rope = "rope" };
    Sample = "sample.wgsl", prelude ["prelude.wgsl"], SampleParams,
        mod sample { LOGITS: write 1, SEEN: read 2, BEST: write 3 },
        entries { Penalize = "penalize", Mask = "mask", Argmax = "argmax" };
    ActivationBackward = "activation_backward.wgsl", prelude ["prelude.wgsl"], ActBackwardParams,
        mod activation_backward { X: read 1, DY: read 2, DX: write 3 },
        entries { GeluBwd = "gelu_bwd", GeluTanhBwd = "gelu_tanh_bwd", SiluBwd = "silu_bwd", ReluBwd = "relu_bwd" };
    SoftmaxBackward = "softmax_backward.wgsl", prelude ["prelude.wgsl", "reduce.wgsl"], SoftmaxParams,
        mod softmax_backward { Y: read 1, DY: read 2, DX: write 3 },
        entries { SoftmaxBwd = "softmax_bwd" };
    NormBackward = "norm_backward.wgsl", prelude ["prelude.wgsl", "reduce.wgsl"], NormParams,
        mod norm_backward { X: read 1, DY: read 2, GAMMA: read 3, DX: write 4, DYX: write 5 },
        entries { LayerNormBwd = "layer_norm_bwd", RmsNormBwd = "rms_norm_bwd" };
    Loss = "loss.wgsl", prelude ["prelude.wgsl", "reduce.wgsl"], LossParams,
        mod loss { LOGITS: read 1, TARGETS: read 2, DLOGITS: write 3, LOSS: write 4 },
        entries { CrossEntropy = "cross_entropy" };
    Adamw = "adamw.wgsl", prelude ["prelude.wgsl"], AdamwParams,
        mod adamw { PARAM: read 1, GRAD: read 2, M: read 3, V: read 4, PARAM_OUT: write 5, M_OUT: write 6, V_OUT: write 7 },
        entries { Adamw = "adamw" };
}

/// The one documented define: a file may hold one line ending in
/// `// webfm:storage-type` that aliases the type of a storage operand to
/// `f32`. The f16 variant rewrites it to `f16` and enables the extension.
const STORAGE_TYPE_MARK: &str = "= f32; // webfm:storage-type";

impl Shader {
    /// Whether the file has an f16 storage variant.
    pub(crate) fn has_f16_variant(self) -> bool {
        self.sources().last().is_some_and(|s| s.contains(STORAGE_TYPE_MARK))
    }
}

/// The WGSL compiled for `shader`: the preludes, then the file (the f16
/// variant with `enable f16;` first).
pub(crate) fn wgsl(shader: Shader, f16: bool) -> String {
    let body = shader.sources().join("\n");
    if f16 {
        assert!(shader.has_f16_variant(), "{shader:?} has no storage-type alias");
        format!("enable f16;\n{}", body.replace(STORAGE_TYPE_MARK, "= f16; // webfm:storage-type"))
    } else {
        body
    }
}

/// One pipeline: an entry point, whether its storage operand is f16, and
/// values for its `override` constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kernel {
    pub(crate) entry: Entry,
    pub(crate) f16: bool,
    pub(crate) constants: Vec<(&'static str, u32)>,
}

impl Kernel {
    pub(crate) fn new(entry: Entry) -> Kernel {
        Kernel { entry, f16: false, constants: Vec::new() }
    }
    pub(crate) fn with(mut self, name: &'static str, value: u32) -> Kernel {
        self.constants.push((name, value));
        self
    }
    pub(crate) fn f16(mut self, on: bool) -> Kernel {
        self.f16 = on;
        self
    }
    pub(crate) fn shader(&self) -> Shader {
        self.entry.shader()
    }
}

/// A compiled pipeline and its bind group layout, fetched once rather than on
/// every dispatch. The layout is explicit: the parameter block at a dynamic
/// offset (one uniform buffer serves every dispatch of a submission), then
/// the storage bindings the entry point uses.
pub(crate) struct Compiled {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct Pipelines {
    modules: RefCell<HashMap<(Shader, bool), wgpu::ShaderModule>>,
    pipelines: RefCell<HashMap<Kernel, Rc<Compiled>>>,
}

impl Pipelines {
    /// The pipeline of `kernel`, compiled on first use for a parameter block
    /// of `uniform_size` bytes and the storage bindings in `storage`.
    pub(crate) fn get(&self, device: &wgpu::Device, kernel: &Kernel, has_f16: bool, uniform_size: u64, storage: &[Binding]) -> Result<Rc<Compiled>> {
        if let Some(p) = self.pipelines.borrow().get(kernel) {
            return Ok(p.clone());
        }
        let entry = kernel.entry.name();
        if kernel.f16 && !has_f16 {
            return Err(Error::InvalidArgument(format!("{entry}: f16 storage needs the shader-f16 feature")));
        }
        let module = self
            .modules
            .borrow_mut()
            .entry((kernel.shader(), kernel.f16))
            .or_insert_with(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.shader().file()),
                    source: wgpu::ShaderSource::Wgsl(wgsl(kernel.shader(), kernel.f16).into()),
                })
            })
            .clone();
        let constants: Vec<(&str, f64)> = kernel.constants.iter().map(|&(k, v)| (k, v as f64)).collect();
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: UNIFORM_BINDING,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(uniform_size),
            },
            count: None,
        }];
        let mut storage = storage.to_vec();
        storage.sort_by_key(|b| b.index);
        storage.dedup_by_key(|b| b.index);
        entries.extend(storage.iter().map(|b| wgpu::BindGroupLayoutEntry {
            binding: b.index,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: !b.writable },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }));
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(entry), entries: &entries });
        let pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some(entry), bind_group_layouts: &[Some(&layout)], immediate_size: 0 });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() },
            cache: None,
        });
        let compiled = Rc::new(Compiled { pipeline, layout });
        self.pipelines.borrow_mut().insert(kernel.clone(), compiled.clone());
        Ok(compiled)
    }
}
