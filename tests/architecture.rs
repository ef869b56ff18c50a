//! Keeps docs/architecture.md true: every crate's modules are listed there in
//! layers, top to bottom, and no module refers to a module in a layer above
//! its own (a page importing the app shell, a route importing `startup`).
//!
//! The layers live in fenced blocks of the doc:
//!
//! ```text
//! ```layers crates/web
//! app
//! pages
//! components
//! context
//! ```
//! ```
//!
//! One line is one layer; several modules on a line are peers that must not
//! refer to each other either. A module may refer to any module on a lower
//! line. Every top-level module of the crate must be listed, and every listed
//! module must exist, so the picture cannot silently fall behind the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The layers of one crate as written in the doc.
#[derive(Debug)]
struct Layers {
    crate_dir: String,
    /// Module name → its line in the block (0 = top).
    rank: BTreeMap<String, usize>,
}

fn parse_layers(doc: &str) -> Vec<Layers> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<Vec<String>>)> = None;
    for line in doc.lines() {
        let trimmed = line.trim();
        match &mut current {
            None => {
                if let Some(dir) = trimmed.strip_prefix("```layers ") {
                    current = Some((dir.trim().to_string(), Vec::new()));
                }
            }
            Some((dir, lines)) => {
                if trimmed.starts_with("```") {
                    let mut rank = BTreeMap::new();
                    for (i, modules) in lines.iter().enumerate() {
                        for m in modules {
                            assert!(rank.insert(m.clone(), i).is_none(), "{dir}: module `{m}` is listed twice");
                        }
                    }
                    out.push(Layers { crate_dir: dir.clone(), rank });
                    current = None;
                } else if !trimmed.is_empty() {
                    // Anything after `#` on a line is a comment for the reader.
                    let names = trimmed.split('#').next().unwrap_or("");
                    lines.push(names.split_whitespace().map(str::to_string).collect());
                }
            }
        }
    }
    assert!(current.is_none(), "an unterminated ```layers block in docs/architecture.md");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src`: `pages/leads_page.rs` →
/// `["pages", "leads_page"]`; `lib.rs` and `main.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// Drops comments and string literals so that prose such as "see crate::app"
/// in a doc comment does not count as a reference.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a file refers to through `crate::` or `super::`.
fn referenced_modules(code: &str, own_path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]);
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        if starts_word && rest.starts_with("crate::") {
            collect_after(&bytes, i + "crate::".len(), &mut found);
            i += 7;
            continue;
        }
        if starts_word && rest.starts_with("super::") {
            // Climb one level per `super::`; only a climb to the crate root
            // names a top-level module.
            let mut depth = own_path.len();
            let mut j = i;
            while bytes[j..].iter().take(7).collect::<String>() == "super::" {
                depth = depth.saturating_sub(1);
                j += 7;
            }
            if depth == 0 {
                collect_after(&bytes, j, &mut found);
            }
            i = j;
            continue;
        }
        i += 1;
    }
    found
}

/// Reads `name` or `{a, b::c, …}` at `start` and records the first segment(s).
fn collect_after(chars: &[char], start: usize, found: &mut BTreeSet<String>) {
    if chars.get(start) == Some(&'{') {
        let mut depth = 0;
        let mut word = String::new();
        let mut at_item_start = true;
        for &c in &chars[start..] {
            match c {
                '{' => {
                    depth += 1;
                    at_item_start = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => at_item_start = true,
                c if is_ident(c) && at_item_start && depth == 1 => word.push(c),
                _ => {
                    if !word.is_empty() {
                        found.insert(std::mem::take(&mut word));
                    }
                    if !c.is_whitespace() {
                        at_item_start = false;
                    }
                }
            }
        }
        if !word.is_empty() {
            found.insert(word);
        }
    } else {
        let word: String = chars[start..].iter().take_while(|c| is_ident(**c)).collect();
        if !word.is_empty() {
            found.insert(word);
        }
    }
}

/// Names of the crate's top-level modules: `src/x.rs` and `src/x/`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("reading {}: {e}", src.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            if p.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?.to_string();
                (!matches!(stem.as_str(), "lib" | "main")).then_some(stem)
            }
        })
        .collect()
}

fn doc_layers() -> Vec<Layers> {
    let doc_path = repo_root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("reading {}: {e}", doc_path.display()));
    parse_layers(&doc)
}

#[test]
fn every_crate_with_modules_has_its_layers_in_the_architecture_doc() {
    let documented: BTreeSet<String> = doc_layers().into_iter().map(|l| l.crate_dir).collect();
    let mut missing = Vec::new();
    for dir in ["crates/api", "crates/web", "crates/shared", "crates/localbase", "crates/pgcluster", "xtask"] {
        if top_level_modules(&repo_root().join(dir).join("src")).len() > 1 && !documented.contains(dir) {
            missing.push(dir);
        }
    }
    assert!(missing.is_empty(), "docs/architecture.md has no ```layers block for: {missing:?}");
}

#[test]
fn the_layer_lists_name_exactly_the_modules_that_exist() {
    let mut problems = Vec::new();
    for layers in doc_layers() {
        let actual = top_level_modules(&repo_root().join(&layers.crate_dir).join("src"));
        let listed: BTreeSet<String> = layers.rank.keys().cloned().collect();
        for m in actual.difference(&listed) {
            problems.push(format!("{}: module `{m}` exists but is not in the doc", layers.crate_dir));
        }
        for m in listed.difference(&actual) {
            problems.push(format!("{}: the doc lists `{m}`, which does not exist", layers.crate_dir));
        }
    }
    assert!(problems.is_empty(), "docs/architecture.md is out of date:\n{}", problems.join("\n"));
}

#[test]
fn no_module_imports_a_module_above_or_beside_it() {
    let mut violations = Vec::new();
    for layers in doc_layers() {
        let src = repo_root().join(&layers.crate_dir).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let own = module_path(&src, &file);
            let Some(own_top) = own.first() else { continue };
            let Some(&own_rank) = layers.rank.get(own_top) else { continue };
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            for target in referenced_modules(&code_only(&source), &own) {
                if &target == own_top {
                    continue;
                }
                let Some(&target_rank) = layers.rank.get(&target) else { continue };
                if target_rank <= own_rank {
                    let how = if target_rank == own_rank { "a peer on its own layer" } else { "a layer above" };
                    violations.push(format!(
                        "{}: `{}` imports `{target}`, {how}",
                        layers.crate_dir,
                        file.strip_prefix(repo_root()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports must point down the layers in docs/architecture.md:\n{}", violations.join("\n"));
}

#[test]
fn the_reference_scanner_sees_grouped_and_super_imports() {
    let code = code_only(
        "use crate::{app::Shell, context::use_team};\nuse super::super::api;\n// crate::ignored\nlet s = \"crate::nope\";",
    );
    let found = referenced_modules(&code, &["pages".into(), "leads_page".into()]);
    assert_eq!(found, ["api", "app", "context"].iter().map(|s| s.to_string()).collect());
}
