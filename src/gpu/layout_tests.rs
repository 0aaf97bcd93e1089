//! The Rust side of every kernel checked against its WGSL with naga (no GPU
//! needed): each file parses and validates (its f16 variant too), its
//! parameter block matches the Rust struct field by field (names, order,
//! offsets, types, size), every binding constant names a variable with that
//! `@binding` and access, every storage variable has a constant, and the
//! entry points in Rust are exactly the file's.

use naga::{AddressSpace, ArraySize, Module, ScalarKind, StorageAccess, TypeInner, VectorSize};

use super::kernels::{wgsl, Entry, Shader, UNIFORM_BINDING};

fn parse(shader: Shader, f16: bool) -> Module {
    let src = wgsl(shader, f16);
    let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{} (f16 {f16}): {}", shader.file(), e.emit_to_string(&src)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{} (f16 {f16}) does not validate: {e:?}", shader.file()));
    module
}

/// A WGSL type as the Rust type that mirrors it (`u32`, `f32`, `[[u32; 4]; 2]`).
fn rust_type(m: &Module, ty: naga::Handle<naga::Type>) -> String {
    let scalar = |s: naga::Scalar| match (s.kind, s.width) {
        (ScalarKind::Uint, 4) => "u32".to_string(),
        (ScalarKind::Sint, 4) => "i32".to_string(),
        (ScalarKind::Float, 4) => "f32".to_string(),
        other => format!("{other:?}"),
    };
    match &m.types[ty].inner {
        TypeInner::Scalar(s) => scalar(*s),
        TypeInner::Vector { size, scalar: s } => {
            let n = match size {
                VectorSize::Bi => 2,
                VectorSize::Tri => 3,
                VectorSize::Quad => 4,
            };
            format!("[{}; {n}]", scalar(*s))
        }
        TypeInner::Array { base, size: ArraySize::Constant(n), .. } => format!("[{}; {n}]", rust_type(m, *base)),
        other => format!("{other:?}"),
    }
}

fn normalize(ty: &str) -> String {
    ty.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn every_shader_parses_and_validates() {
    for &shader in Shader::ALL {
        parse(shader, false);
        if shader.has_f16_variant() {
            parse(shader, true);
        }
    }
}

#[test]
fn parameter_blocks_match_the_wgsl_structs() {
    for &shader in Shader::ALL {
        let m = parse(shader, false);
        let file = shader.file();
        let (name, size, fields) = shader.uniform_layout();
        let uniforms: Vec<_> = m.global_variables.iter().filter(|(_, g)| g.space == AddressSpace::Uniform).map(|(_, g)| g).collect();
        assert_eq!(uniforms.len(), 1, "{file}: one uniform, found {}", uniforms.len());
        let u = uniforms[0];
        let binding = u.binding.as_ref().unwrap_or_else(|| panic!("{file}: the uniform has no @binding"));
        assert_eq!((binding.group, binding.binding), (0, UNIFORM_BINDING), "{file}: the uniform's @group/@binding");
        let ty = &m.types[u.ty];
        assert_eq!(ty.name.as_deref(), Some(name), "{file}: the uniform's struct is {:?}, Rust has {name}", ty.name);
        let TypeInner::Struct { members, span } = &ty.inner else { panic!("{file}: the uniform is not a struct") };
        let wgsl_fields: Vec<(String, usize, String)> =
            members.iter().map(|f| (f.name.clone().unwrap_or_default(), f.offset as usize, normalize(&rust_type(&m, f.ty)))).collect();
        let rust_fields: Vec<(String, usize, String)> = fields.iter().map(|&(n, o, t)| (n.to_string(), o, normalize(t))).collect();
        assert_eq!(wgsl_fields, rust_fields, "{file}: {name}'s fields (name, offset, type), WGSL left, Rust right");
        assert_eq!(*span as usize, size, "{file}: {name} is {span} bytes in WGSL, {size} in Rust");
    }
}

#[test]
fn binding_constants_match_the_wgsl_variables() {
    for &shader in Shader::ALL {
        let m = parse(shader, false);
        let file = shader.file();
        let bindings = shader.bindings();
        for &(name, b) in bindings {
            assert_eq!(b.shader, shader, "{file}: {name} belongs to {:?}", b.shader);
            let var = name.to_lowercase();
            let g = m
                .global_variables
                .iter()
                .map(|(_, g)| g)
                .find(|g| g.name.as_deref() == Some(var.as_str()))
                .unwrap_or_else(|| panic!("{file}: no variable {var} for the constant {name}"));
            let rb = g.binding.as_ref().unwrap_or_else(|| panic!("{file}: {var} has no @binding"));
            assert_eq!((rb.group, rb.binding), (0, b.index), "{file}: {var} is @group({}) @binding({}), Rust says {}", rb.group, rb.binding, b.index);
            let AddressSpace::Storage { access } = g.space else { panic!("{file}: {var} is not a storage buffer") };
            assert_eq!(access.contains(StorageAccess::STORE), b.writable, "{file}: {var} read_write in WGSL vs writable in Rust");
        }
        for (_, g) in m.global_variables.iter() {
            if let AddressSpace::Storage { .. } = g.space {
                let name = g.name.clone().unwrap_or_default();
                assert!(bindings.iter().any(|(n, _)| n.to_lowercase() == name), "{file}: storage variable {name} has no binding constant");
            }
        }
    }
}

#[test]
fn entry_points_are_the_files_own() {
    for &entry in Entry::ALL {
        let m = parse(entry.shader(), false);
        assert!(m.entry_points.iter().any(|e| e.name == entry.name()), "{entry:?}: no entry point {} in {}", entry.name(), entry.shader().file());
    }
    for &shader in Shader::ALL {
        let m = parse(shader, false);
        for e in &m.entry_points {
            assert!(Entry::ALL.iter().any(|x| x.shader() == shader && x.name() == e.name), "{}: entry point {} has no Entry variant", shader.file(), e.name);
        }
    }
}
