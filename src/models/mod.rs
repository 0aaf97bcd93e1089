//! The architectures: one file each with its serde config, its weights loaded
//! by checkpoint name ([`params::Scope`]) and its forward; tasks live in `crate::tasks`.

pub mod bert;
pub mod config;
pub mod decoder;
pub mod files;
pub mod gpt2;
pub mod llama;
pub mod params;

/// The projections of a transformer layer. Each architecture names them in
/// its checkpoint (`attention.self.query`, `self_attn.q_proj`, ..) with a
/// table in its own file; LoRA targets and calibration name them by that path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

/// A layer's projections by checkpoint path, in the order of the
/// architecture's table: what LoRA adapters target.
pub(crate) struct Projections<const N: usize> {
    paths: [(Proj, String); N],
}

/// The checkpoint name of `p` in an architecture's `table`.
pub(crate) fn proj_name<const N: usize>(table: &[(Proj, &'static str); N], p: Proj) -> &'static str {
    table.iter().find(|(q, _)| *q == p).map(|(_, n)| *n).expect("every projection the model loads is in its table")
}

impl<const N: usize> Projections<N> {
    /// The paths `{scope}.{name}` of each `(proj, name)` of `table`.
    pub(crate) fn new(scope: &params::Scope, table: &[(Proj, &str); N]) -> Self {
        Projections { paths: table.map(|(p, name)| (p, scope.path(name))) }
    }

    /// The checkpoint path of `p` (without `.weight`).
    pub(crate) fn path(&self, p: Proj) -> &str {
        self.paths.iter().find(|(q, _)| *q == p).map(|(_, s)| s.as_str()).expect("a projection of this architecture")
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Proj, &str)> {
        self.paths.iter().map(|(p, s)| (*p, s.as_str()))
    }
}
