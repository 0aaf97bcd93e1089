//! The parameters a model is built from: the tensor store ([`Params`], in
//! `crate::nn`) seen through a checkpoint-name scope ([`Scope`]).

pub use crate::nn::params::Params;
