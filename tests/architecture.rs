//! The layering of `src/`, checked: every top-level module imports only modules of lower
//! layers (formats, at one layer, import none of each other), so there is no cycle between
//! top-level modules. The layers are drawn in the manual (`manual::architecture`); a new
//! module must be added to `LAYERS` below, in its place.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules by layer, lowest first. Modules of one layer may not import each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["le", "time", "output", "deflate"],
    &["input"],
    &["patch", "digest"],
    &["cms"],
    &["certs", "crypto"],
    &["subject"],
    &["pe", "cab", "msi", "cat", "script", "appx"],
    &["open"],
    &["signer"],
    &["timestamp"],
    &["verify"],
    &["sign"],
    &["remote"],
];

/// Modules outside the layering: documentation only.
const OUTSIDE: &[&str] = &["manual"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::NAME` a module's code (not its comments) names.
fn imports(dir: &Path, name: &str) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    let single = dir.join(format!("{name}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let folder = dir.join(name);
    if folder.is_dir() {
        let mut stack = vec![folder];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    let mut found = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let tail = &rest[at + "crate::".len()..];
                let target: String = tail
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found
                    .entry(target)
                    .or_insert_with(|| format!("{}:{}", f.display(), n + 1));
                rest = tail;
            }
        }
    }
    found
}

#[test]
fn top_level_modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(stem)
        })
        .filter(|m| m != "lib")
        .collect();
    modules.sort();
    modules.dedup();
    let mut wrong = Vec::new();
    for m in &modules {
        if OUTSIDE.contains(&m.as_str()) {
            continue;
        }
        let Some(own) = layer_of(m) else {
            wrong.push(format!("{m}: not in LAYERS (add it where it belongs)"));
            continue;
        };
        for (target, at) in imports(&src, m) {
            if &target == m || !modules.contains(&target) {
                continue; // itself, or an item of lib.rs
            }
            match layer_of(&target) {
                Some(l) if l < own => {}
                _ => wrong.push(format!("{m} imports {target} ({at})")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}
