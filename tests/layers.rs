//! The layer order written in `src/lib.rs` holds: every module of `src/`
//! uses only modules of lower layers (`crate::…`, `latent_studio::…`, or a
//! top-level file's `super::…`). A `use` that points up or sideways fails
//! here, naming the file and the module it reached for.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. Modules on one line are siblings: neither may use the other.
const LAYERS: &[&[&str]] = &[
    &["storage"],
    &["hub"],
    &["error"],
    &["networks", "sampling"],
    &["models"],
    &["diffusion"],
    &["library"],
    &["engine"],
    &["ui"],
    &["cli"],
    &["testing"],
];

/// Items re-exported at the crate root, and the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[("Error", "error"), ("Result", "error")];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a file's code names, comments and its unit tests
/// (from `#[cfg(test)]` on, which may use the test fixtures) left out.
fn modules_used(source: &str, top_level_file: bool) -> BTreeSet<String> {
    let source = source.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = source
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut prefixes = vec!["crate::", "latent_studio::"];
    if top_level_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::b, c};`: the first name of each entry.
                let end = group.find('}').unwrap_or(group.len());
                for entry in group[..end].split(',') {
                    found.insert(first_name(entry.trim()));
                }
            } else {
                found.insert(first_name(rest));
            }
        }
    }
    found.remove("");
    found
        .into_iter()
        .map(|name| {
            ROOT_ITEMS
                .iter()
                .find(|(item, _)| *item == name)
                .map_or(name, |(_, module)| module.to_string())
        })
        .collect()
}

fn first_name(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, its module, the module it must not use)` for every violation.
fn violations(src: &Path) -> Vec<(PathBuf, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
        let first = parts.next().unwrap();
        let top_level_file = rel.components().count() == 1;
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| {
            panic!("src/{first} is in no layer: add `{module}` to LAYERS here and to the order in src/lib.rs")
        });
        let source = std::fs::read_to_string(&file).unwrap();
        for used in modules_used(&source, top_level_file) {
            if used == module || (module == "cli" && used == "latent_studio") {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                Some(_) => bad.push((rel.to_path_buf(), module.clone(), used)),
                // Not a module of ours (e.g. `super::super` inside a module).
                None => {}
            }
        }
    }
    bad
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    let report: Vec<String> = bad
        .iter()
        .map(|(file, module, used)| {
            format!(
                "src/{}: `{module}` uses `{used}`, which is not below it",
                file.display()
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "layer order broken:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_layer_order_is_the_one_lib_rs_states() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    // Each layer's modules appear (as `name`) after every module below them.
    let mut at = 0;
    for layer in LAYERS {
        let mut end = at;
        for module in *layer {
            let name = format!("`{module}`");
            let found = lib[at..].find(&name).unwrap_or_else(|| {
                panic!("src/lib.rs does not list {name} after the layers below it")
            });
            end = end.max(at + found + name.len());
        }
        at = end;
    }
}

#[test]
fn the_checker_sees_uses_in_every_form() {
    let uses = |s: &str, top: bool| modules_used(s, top).into_iter().collect::<Vec<_>>();
    assert_eq!(uses("use crate::engine::JobResult;", false), ["engine"]);
    assert_eq!(
        uses(
            "use crate::{diffusion::params, ui};\nfn f() -> crate::Result<()> {}",
            false
        ),
        ["diffusion", "error", "ui"]
    );
    assert_eq!(
        uses("let x = latent_studio::library::info::read();", false),
        ["library"]
    );
    assert_eq!(uses("use super::storage::atomic;", true), ["storage"]);
    assert!(uses("use super::storage::atomic;", false).is_empty());
    assert!(uses("// crate::ui in a comment\nmy_crate::ui::x();", false).is_empty());
    assert!(uses(
        "#[cfg(test)]\nmod tests { use crate::testing::data_dir; }",
        false
    )
    .is_empty());

    // An upward use in a real tree fails.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("storage")).unwrap();
    std::fs::write(
        dir.path().join("storage/mod.rs"),
        "use crate::engine::Engine;",
    )
    .unwrap();
    std::fs::write(dir.path().join("engine.rs"), "use crate::storage::atomic;").unwrap();
    let bad = violations(dir.path());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(
        (bad[0].1.as_str(), bad[0].2.as_str()),
        ("storage", "engine")
    );
}
