//! The workspace's shape: within each crate the modules depend on one another without
//! a cycle, and no source file outside tests runs past about 500 lines of code unless
//! its first lines say why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const MAX_LINES: usize = 520;

/// Every crate's `src` folder in the workspace.
fn source_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for group in ["shared", "functions", "tools"] {
        let Ok(entries) = std::fs::read_dir(Path::new(ROOT).join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            let src = entry.path().join("src");
            if src.is_dir() {
                dirs.push(src);
            }
        }
    }
    dirs.push(Path::new(ROOT).join("local/src"));
    dirs.push(Path::new(ROOT).join("bench/src"));
    dirs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code before its unit tests; test files count for nothing.
fn code_of(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("readable");
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[test]
fn no_crate_has_a_module_cycle() {
    let dirs = source_dirs();
    assert!(dirs.len() > 10, "{dirs:?}");
    for src in dirs {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // Top-level module of each file -> the top-level modules it names.
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let rel = file.strip_prefix(&src).expect("below src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or("")
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" || top == "main" || top == "bin" {
                continue;
            }
            let code = code_of(file);
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    edges.entry(top.clone()).or_default().insert(name);
                }
            }
        }
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|n| n == node) {
                let mut cycle = path[i..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if !done.insert(node.to_string()) {
                return None;
            }
            path.push(node.to_string());
            for next in edges.get(node).into_iter().flatten() {
                if let Some(c) = visit(next, edges, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for node in edges.keys() {
            let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
            assert!(cycle.is_none(), "{}: module cycle {cycle:?}", src.display());
        }
    }
}

#[test]
fn long_source_files_say_why_at_their_top() {
    let mut long = Vec::new();
    for src in source_dirs() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let code = code_of(&file);
            let lines = code.lines().count();
            let head: String = code.lines().take(12).collect::<Vec<_>>().join("\n");
            if lines > MAX_LINES && !head.contains("Long because") {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these or say why at the top: {long:?}"
    );
}
