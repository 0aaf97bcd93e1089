//! WGSL sources (one file per kernel family in `shaders/`) and a cache of
//! compiled pipelines keyed by file, storage type, entry point and the
//! `override` constants.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shader {
    Gemm,
    GemmVec4,
    Gemv,
    Elementwise,
    Copy,
    Softmax,
    Norm,
    QMatmul,
    Embedding,
    Attention,
    Decoder,
    Rope,
    Sample,
    Backward,
}

impl Shader {
    fn source(self) -> &'static str {
        match self {
            Shader::Gemm => include_str!("../../shaders/gemm.wgsl"),
            Shader::GemmVec4 => include_str!("../../shaders/gemm_vec4.wgsl"),
            Shader::Gemv => include_str!("../../shaders/gemv.wgsl"),
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Copy => include_str!("../../shaders/copy.wgsl"),
            Shader::Softmax => include_str!("../../shaders/softmax.wgsl"),
            Shader::Norm => include_str!("../../shaders/norm.wgsl"),
            Shader::QMatmul => include_str!("../../shaders/qmatmul.wgsl"),
            Shader::Embedding => include_str!("../../shaders/embedding.wgsl"),
            Shader::Attention => include_str!("../../shaders/attention.wgsl"),
            Shader::Decoder => include_str!("../../shaders/decoder.wgsl"),
            Shader::Rope => include_str!("../../shaders/rope.wgsl"),
            Shader::Sample => include_str!("../../shaders/sample.wgsl"),
            Shader::Backward => include_str!("../../shaders/backward.wgsl"),
        }
    }
}

/// The one documented define: a file may hold one line ending in
/// `// webfm:storage-type` that aliases the type of a storage operand to
/// `f32`. The f16 variant rewrites it to `f16` and enables the extension.
const STORAGE_TYPE_MARK: &str = "= f32; // webfm:storage-type";

pub(crate) fn wgsl(shader: Shader, f16: bool) -> String {
    let src = shader.source();
    if f16 {
        assert!(src.contains(STORAGE_TYPE_MARK), "{shader:?} has no storage-type alias");
        format!("enable f16;\n{}", src.replace(STORAGE_TYPE_MARK, "= f16; // webfm:storage-type"))
    } else {
        src.to_string()
    }
}

/// One pipeline: a file, an entry point, whether its storage operand is f16,
/// and values for its `override` constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kernel {
    pub(crate) shader: Shader,
    pub(crate) entry: &'static str,
    pub(crate) f16: bool,
    pub(crate) constants: Vec<(&'static str, u32)>,
}

impl Kernel {
    pub(crate) fn new(shader: Shader, entry: &'static str) -> Kernel {
        Kernel { shader, entry, f16: false, constants: Vec::new() }
    }
    pub(crate) fn with(mut self, name: &'static str, value: u32) -> Kernel {
        self.constants.push((name, value));
        self
    }
    pub(crate) fn f16(mut self, on: bool) -> Kernel {
        self.f16 = on;
        self
    }
}

/// A compiled pipeline and its bind group layout, fetched once rather than on
/// every dispatch.
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
    pub(crate) fn get(&self, device: &wgpu::Device, kernel: &Kernel, has_f16: bool) -> Result<Rc<Compiled>> {
        if let Some(p) = self.pipelines.borrow().get(kernel) {
            return Ok(p.clone());
        }
        if kernel.f16 && !has_f16 {
            return Err(Error::InvalidArgument(format!("{}: f16 storage needs the shader-f16 feature", kernel.entry)));
        }
        let module = self
            .modules
            .borrow_mut()
            .entry((kernel.shader, kernel.f16))
            .or_insert_with(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.entry),
                    source: wgpu::ShaderSource::Wgsl(wgsl(kernel.shader, kernel.f16).into()),
                })
            })
            .clone();
        let constants: Vec<(&str, f64)> = kernel.constants.iter().map(|&(k, v)| (k, v as f64)).collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let compiled = Rc::new(Compiled { pipeline, layout });
        self.pipelines.borrow_mut().insert(kernel.clone(), compiled.clone());
        Ok(compiled)
    }
}
