//! Models and the pieces they are built from: parameters loaded tensor by
//! tensor ([`params`]), the modules ([`nn`]), the files of a model folder
//! ([`files`]) and the architectures.

pub mod bert;
pub mod decoder;
pub mod files;
pub mod gpt2;
pub mod llama;
pub mod nn;
pub mod params;
