//! The crate's layering, checked from its sources: the backends (`cpu`,
//! `gpu`) import only the leaves (`error`, `kinds`, `platform`), the leaves
//! import nothing of the crate, and the top-level modules of `src/` form no
//! import cycle. A violation names the file and the path it imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a backend may import from the crate.
const BACKEND_MAY_USE: &[&str] = &["error", "kinds", "platform"];
const BACKENDS: &[&str] = &["cpu", "gpu"];
/// Modules that import nothing of the crate (but `error` for the leaves that return errors).
const LEAVES: &[(&str, &[&str])] = &[("error", &[]), ("kinds", &[]), ("rng", &[]), ("platform", &["error"])];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/gpu/ops.rs` -> `gpu`; the
/// crate root and the CLI binary are `lib` and `bin`).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a path component").as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (doc links name paths too).
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The top-level modules a file's code names as `crate::<module>`, with
/// `use crate::{a, b::c}` groups opened.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        // Skip `webfm::crate::` lookalikes and identifiers ending in "crate".
        let before = rest[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    refs.insert(name);
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                refs.insert(name);
            }
        }
        rest = after;
    }
    refs
}

/// `module -> (imported module -> a file that imports it)` over `src/`.
fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let from = top_module(&src, &file);
        let text = std::fs::read_to_string(&file).expect("a source file");
        let rel = file.strip_prefix(&src).expect("under src/").display().to_string();
        let edges = g.entry(from.clone()).or_default();
        for to in crate_refs(&code(&text)) {
            if to != from && to != "self" && to != "super" {
                edges.entry(to).or_insert_with(|| rel.clone());
            }
        }
    }
    g
}

#[test]
fn backends_import_only_the_leaves() {
    let g = graph();
    let mut bad = Vec::new();
    for backend in BACKENDS {
        let edges = g.get(*backend).unwrap_or_else(|| panic!("no src/{backend}"));
        for (to, file) in edges {
            if !BACKEND_MAY_USE.contains(&to.as_str()) {
                bad.push(format!("src/{file} imports crate::{to}"));
            }
        }
    }
    assert!(bad.is_empty(), "a backend may import only {BACKEND_MAY_USE:?}:\n{}", bad.join("\n"));
}

#[test]
fn leaves_import_nothing_above_them() {
    let g = graph();
    let mut bad = Vec::new();
    for (leaf, allowed) in LEAVES {
        for (to, file) in g.get(*leaf).into_iter().flatten() {
            if !allowed.contains(&to.as_str()) {
                bad.push(format!("src/{file} imports crate::{to}"));
            }
        }
    }
    assert!(bad.is_empty(), "leaf modules import nothing of the crate:\n{}", bad.join("\n"));
}

#[test]
fn top_level_modules_form_no_cycle() {
    let g = graph();
    // Depth-first search; a grey node met again closes a cycle.
    fn visit<'a>(
        n: &'a str,
        g: &'a BTreeMap<String, BTreeMap<String, String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(n, 1);
        stack.push(n);
        for to in g.get(n).into_iter().flat_map(|e| e.keys()) {
            if !g.contains_key(to) {
                continue; // an external crate named like a path, or `lib` items
            }
            match state.get(to.as_str()).copied().unwrap_or(0) {
                0 => visit(to, g, state, stack, cycles),
                1 => {
                    let at = stack.iter().position(|m| m == to).expect("grey nodes are on the stack");
                    let mut path: Vec<String> = stack[at..].iter().map(|m| m.to_string()).collect();
                    path.push(to.clone());
                    let files: Vec<String> = path.windows(2).map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]])).collect();
                    cycles.push(files.join(", "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            visit(n, &g, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles among the top-level modules of src/:\n{}", cycles.join("\n"));
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let refs = crate_refs(&code("use crate::{error::Result, kinds::DType};\nlet x = crate::gpu::ops::f(); // crate::models\n"));
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["error", "gpu", "kinds"]);
}
