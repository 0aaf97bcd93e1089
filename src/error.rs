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

    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("CPU backend: {0}")]
    Cpu(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shapes(op: &'static str, lhs: &[usize], rhs: &[usize], why: impl Into<String>) -> Self {
        Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), why: why.into() }
    }
}
