//! The op vocabulary every layer shares: element types, elementwise and
//! activation kinds, GEMM kernel choices. A leaf: it imports nothing of the crate.

/// The number of elements of a tensor of `shape` (1 for a scalar `[]`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Element types a tensor may hold. Computation happens in f32; f16 is a
/// storage type (weights), read by kernels that know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
        }
    }
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Which GEMM kernel the GPU uses. `Auto` picks the tiled kernel, or the GEMV
/// kernel when `M == 1`; `Naive` (one invocation per output) is the benchmark floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    Auto,
    Tiled,
    Gemv,
    Naive,
}

/// Binary elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Mul,
}

/// Unary elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Gelu,
    GeluTanh,
    Silu,
    Tanh,
    Relu,
    Scale(f32),
}

/// Activations with a backward op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// GELU with erf (BERT).
    Gelu,
    /// GELU with tanh (GPT-2).
    GeluTanh,
    Silu,
    Relu,
}
