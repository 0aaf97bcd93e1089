//! One error type for the whole crate. Every failure that comes from outside
//! (shapes from JS, files, the GPU) is a value here, never a panic.

/// Shapes print as `[2, 3]`, the way users write them.
pub type Dims = Vec<usize>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not fit: {why}")]
    ShapeMismatch { op: &'static str, lhs: Dims, rhs: Dims, why: String },

    #[error("{op}: dtype {got} is not supported here (expected {expected})")]
    DType { op: &'static str, got: &'static str, expected: &'static str },

    #[error("{op}: operands live on different devices ({lhs} and {rhs})")]
    DeviceMismatch { op: &'static str, lhs: &'static str, rhs: &'static str },

    #[error("data has {len} elements but shape {shape:?} needs {expected}")]
    DataLength { len: usize, shape: Dims, expected: usize },

    #[error("WebGPU is not available: {reason}")]
    NoAdapter { reason: String },

    #[error("the GPU device could not be created: {0}")]
    DeviceRequest(String),

    #[error("{what} needs {needed} bytes, over this device's {limit_name} of {limit} bytes")]
    LimitExceeded { what: String, needed: u64, limit_name: &'static str, limit: u64 },

    #[error("the GPU rejected work (a bug in webfm's kernels, please report it): {0}")]
    GpuValidation(String),

    #[error("the GPU device was lost ({0}); create a new context to continue")]
    DeviceLost(String),

    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("CPU backend: {0}")]
    Cpu(#[from] candle_core::Error),

    /// A weights file (safetensors, GGUF, a shard index) is malformed or uses
    /// something we do not read. Names the file, the tensor or key when there
    /// is one, what a valid file has there and what this one has.
    #[error("{file}{}: expected {expected}, found {found}", at_tensor(.tensor))]
    Format { file: String, tensor: Option<String>, expected: String, found: String },

    /// A file could not be read at all (native only: the browser hands us bytes).
    #[error("{file}: {message}")]
    Io { file: String, message: String },
}

fn at_tensor(tensor: &Option<String>) -> String {
    match tensor {
        Some(t) => format!(": tensor '{t}'"),
        None => String::new(),
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shapes(op: &'static str, lhs: &[usize], rhs: &[usize], why: impl Into<String>) -> Self {
        Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), why: why.into() }
    }
}

/// A malformed-file error naming the file, the tensor (if any), what a valid
/// file has there and what this one has.
pub(crate) fn bad(file: &str, tensor: Option<&str>, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::Format { file: file.to_string(), tensor: tensor.map(str::to_string), expected: expected.into(), found: found.into() }
}
