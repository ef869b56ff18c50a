//! The page's Content-Security-Policy: the `<meta>` tag in `index.html` and
//! the HTTP header documented for static hosts in `docs/deploying.md` say the
//! same thing, and what they say keeps scripts to the app's own files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `content` of `<meta http-equiv="Content-Security-Policy">` in `index.html`.
fn meta_policy() -> String {
    let html = read(&crate_dir().join("index.html"));
    let tag_start = html
        .find(r#"<meta http-equiv="Content-Security-Policy""#)
        .expect("index.html has a Content-Security-Policy meta tag");
    let tag = &html[tag_start..];
    let content = tag.split_once(r#"content=""#).expect("the meta tag has a content attribute").1;
    content.split_once('"').expect("the content attribute is closed").0.to_owned()
}

/// The `Content-Security-Policy:` header line documented in `docs/deploying.md`.
fn documented_header() -> String {
    let doc = read(&crate_dir().join("../../docs/deploying.md"));
    doc.lines()
        .find_map(|line| line.trim().strip_prefix("Content-Security-Policy: "))
        .expect("docs/deploying.md documents a Content-Security-Policy header")
        .to_owned()
}

/// Directive name → its sources.
fn directives(policy: &str) -> BTreeMap<String, Vec<String>> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            let name = words.next().unwrap_or_default();
            (name, words.collect())
        })
        .collect()
}

#[test]
fn the_documented_header_is_the_meta_policy_plus_what_only_a_header_can_say() {
    let meta = meta_policy();
    assert_eq!(documented_header(), format!("{meta}; frame-ancestors 'none'"));
    assert!(!directives(&meta).contains_key("frame-ancestors"), "browsers ignore frame-ancestors in a meta tag");
}

#[test]
fn scripts_come_only_from_the_apps_own_files_and_wasm_may_compile() {
    let policy = directives(&meta_policy());
    assert_eq!(policy["default-src"], ["'none'"]);
    assert_eq!(policy["script-src"], ["'self'", "'wasm-unsafe-eval'"]);
    assert_eq!(policy["style-src"], ["'self'"]);
    assert_eq!(policy["object-src"], ["'none'"]);
    assert_eq!(policy["base-uri"], ["'none'"]);
}

#[test]
fn the_app_may_connect_to_any_https_supabase_but_plain_http_only_on_this_machine() {
    let policy = directives(&meta_policy());
    let connect = &policy["connect-src"];
    for needed in ["'self'", "https:", "wss:"] {
        assert!(connect.iter().any(|s| s == needed), "connect-src lacks {needed}");
    }
    for source in connect.iter().filter(|s| s.starts_with("http://") || s.starts_with("ws://")) {
        let host = source.split("://").nth(1).and_then(|rest| rest.split(':').next()).unwrap_or_default();
        assert!(matches!(host, "127.0.0.1" | "localhost"), "{source} allows plain http to another machine");
    }
    assert!(!connect.iter().any(|s| s == "http:" || s == "ws:" || s == "*"), "{connect:?}");
}

#[test]
fn no_component_writes_raw_html() {
    fn visit(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                visit(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = read(&path);
                if text.contains("inner_html") || text.contains("set_inner_html") || text.contains("innerHTML") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    visit(&crate_dir().join("src"), &mut found);
    assert!(found.is_empty(), "raw HTML bypasses Leptos's escaping: {found:?}");
}
