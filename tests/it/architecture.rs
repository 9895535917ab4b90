//! The shape of the source tree, as the book's Architecture chapter (docs/src/architecture.md) describes it: the parts
//! of the core depend on each other one way only, the core never imports `godot`, and no
//! source file grows past about 600 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest source file allowed (lines), tests included.
const MAX_LINES: usize = 620;

/// Every `.rs` file under `dir`, sorted (installed packages and hidden folders left out).
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module path of a file under `rust/core` ("" for `mod.rs`, "peer::shared").
fn module_of(core: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(core).expect("under core");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its unit tests and comments (doc links are not imports).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The core modules a file names, through `crate::core::` or `super::` paths, mapped to
/// the longest module path that exists. A child naming its own parent counts; a parent's
/// `mod child; use child::X` re-export does not (it is how a folder shows its parts).
fn dependencies(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = |m: &str| {
        m.rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_string())
    };
    // `super` in `a/b.rs` and in `a/b/mod.rs` (both module a::b) is `a`.
    let base = parent(module);
    let mut found = BTreeSet::new();
    let resolve = |path: String, found: &mut BTreeSet<String>| {
        let parts: Vec<&str> = path.split("::").collect();
        for n in (0..=parts.len()).rev() {
            let candidate = parts[..n].join("::");
            if modules.contains(&candidate) {
                if candidate != module {
                    found.insert(candidate);
                }
                return;
            }
        }
    };
    let code = code(text);
    for (marker, prefix) in [("crate::core::", String::new()), ("super::", base.clone())] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(marker) {
            let before = rest[..at].chars().last();
            rest = &rest[at + marker.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                && marker == "super::"
            {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':'
                })
                .collect();
            let path = path.trim_end_matches(':').to_string();
            if path.is_empty() {
                // `super::*` or `super::{A, B}`: the parent itself.
                if marker == "super::" {
                    resolve(base.clone(), &mut found);
                }
                continue;
            }
            let full = if prefix.is_empty() {
                path
            } else {
                format!("{prefix}::{path}")
            };
            resolve(full, &mut found);
        }
    }
    found
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).expect("on the stack");
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn core_graph() -> BTreeMap<String, BTreeSet<String>> {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust/core");
    let files = sources(&core);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&core, f)).collect();
    files
        .iter()
        .map(|f| {
            let module = module_of(&core, f);
            let text = fs::read_to_string(f).expect("readable source");
            let deps = dependencies(&module, &text, &modules);
            (module, deps)
        })
        .collect()
}

#[test]
fn core_modules_depend_on_each_other_one_way() {
    let graph = core_graph();
    assert!(
        graph.contains_key("server") && graph["server"].contains("server_shared"),
        "the scan finds imports: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle between core modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn core_parts_depend_on_each_other_one_way() {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    let mut parts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, deps) in core_graph() {
        for dep in deps {
            if top(&dep) != top(&module) && !top(&module).is_empty() {
                parts.entry(top(&module)).or_default().insert(top(&dep));
            }
        }
    }
    if let Some(cycle) = find_cycle(&parts) {
        panic!(
            "import circle between the core's parts (folders): {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_core_never_imports_godot() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust/core");
    for file in sources(&core) {
        let text = code(&fs::read_to_string(&file).expect("readable"));
        assert!(
            !text.contains("godot::") && !text.contains("use godot"),
            "{} imports godot; the core is engine-free",
            file.display()
        );
    }
}

#[test]
fn no_source_file_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    let godot = root.join("rust/godot");
    for dir in ["rust", "tests", "benches", "examples"] {
        for file in sources(&root.join(dir)) {
            let text = fs::read_to_string(&file).expect("readable");
            // A Godot class's editor help must sit on its declaration (the properties on
            // the struct, their accessors in the primary block): there, doc comments do
            // not count.
            let help = |l: &&str| file.starts_with(&godot) && l.trim_start().starts_with("///");
            let lines = text.lines().filter(|l| !help(l)).count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these along their jobs: {long:?}");
}

/// The fields of the struct `name` declared in `file` (one per line, as rustfmt writes
/// them): each field's line, attributes and comments left out.
fn fields_of(file: &Path, name: &str) -> Vec<String> {
    let text = fs::read_to_string(file).expect("readable");
    let start = text
        .lines()
        .position(|l| l.contains(&format!("struct {name} {{")))
        .unwrap_or_else(|| panic!("struct {name} in {}", file.display()));
    text.lines()
        .skip(start + 1)
        .take_while(|l| *l != "}")
        .filter(|l| {
            let t = l.trim_start();
            l.starts_with("    ") && !l.starts_with("     ") && !t.starts_with("//")
        })
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The state the caller's thread and the connection tasks share sits behind methods:
/// no field of the peer's shared state or of the server is reachable from other rooms,
/// and the peer's state is in parts by who uses what (at most 12 fields to a struct).
#[test]
fn shared_state_sits_behind_methods() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust/core");
    for (file, name) in [
        ("peer/shared.rs", "PeerShared"),
        ("peer/shared.rs", "Opening"),
        ("peer/shared.rs", "Inbound"),
        ("peer/shared.rs", "Outbound"),
        ("peer/shared.rs", "Life"),
        ("server/mod.rs", "Server"),
    ] {
        let fields = fields_of(&core.join(file), name);
        assert!(
            fields.len() > 2,
            "{name}: the scan finds its fields: {fields:?}"
        );
        let open: Vec<&String> = fields.iter().filter(|f| f.starts_with("pub")).collect();
        assert!(open.is_empty(), "{name} has open fields: {open:?}");
        assert!(
            fields.len() <= MAX_FIELDS,
            "{name} has {} fields",
            fields.len()
        );
    }
}

/// Most fields of a struct in the core, and most arguments of a function: past them a
/// struct is a bag passed everywhere and a call site a list to get in the right order.
const MAX_FIELDS: usize = 12;
const MAX_ARGUMENTS: usize = 7;

/// The structs with named fields declared in `text`, with their field counts.
fn struct_sizes(file: &Path) -> Vec<(String, usize)> {
    let text = fs::read_to_string(file).expect("readable");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(at) = t.find("struct ") else {
            continue;
        };
        if !t.ends_with('{') || t.starts_with("//") || t[..at].contains("//") {
            continue;
        }
        let indent = line.len() - t.len();
        let name: String = t[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let field_indent = " ".repeat(indent + 4);
        let closing = format!("{}}}", " ".repeat(indent));
        let fields = lines[i + 1..]
            .iter()
            .take_while(|l| **l != closing)
            .filter(|l| l.starts_with(&field_indent) && !l[field_indent.len()..].starts_with(' '))
            .map(|l| l.trim_start())
            .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
            .count();
        out.push((name, fields));
    }
    out
}

/// The functions declared in `file`, with their argument counts (`self` included).
fn argument_counts(file: &Path) -> Vec<(String, usize)> {
    let text = code(&fs::read_to_string(file).expect("readable"));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("fn ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 3..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = rest.find('(') else { break };
        // Generic parameters may come between the name and the arguments.
        if rest[name.len()..open]
            .trim_start()
            .starts_with(|c| c != '<')
        {
            continue;
        }
        // Arguments are split by the commas outside brackets; a comma last (as rustfmt
        // writes a long list) adds none.
        let (mut depth, mut commas, mut empty, mut last) = (0i32, 0, true, ' ');
        for c in rest[open..].chars() {
            match c {
                '(' | '<' | '[' | '{' => depth += 1,
                ')' | '>' | ']' | '}' => depth -= 1,
                ',' if depth == 1 => commas += 1,
                c if depth == 1 && !c.is_whitespace() => empty = false,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            if !c.is_whitespace() {
                last = c;
            }
        }
        let count = if empty {
            0
        } else {
            commas + 1 - usize::from(last == ',')
        };
        out.push((name, count));
    }
    out
}

#[test]
fn core_structs_and_functions_stay_small() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust/core");
    let (mut big, mut long, mut seen) = (Vec::new(), Vec::new(), 0);
    for file in sources(&core) {
        for (name, fields) in struct_sizes(&file) {
            seen += 1;
            if fields > MAX_FIELDS {
                big.push(format!("{name} ({fields} fields, {})", file.display()));
            }
        }
        for (name, args) in argument_counts(&file) {
            if args > MAX_ARGUMENTS {
                long.push(format!("{name} ({args} arguments, {})", file.display()));
            }
        }
    }
    assert!(seen > 30, "the scan finds the core's structs ({seen})");
    assert!(big.is_empty(), "split these by who uses what: {big:?}");
    assert!(long.is_empty(), "pass fewer, or a value: {long:?}");
}

/// The integration tests are one program (`tests/it`) and the few that need a process to
/// themselves another (`tests/alone`): every test program links the whole crate again.
#[test]
fn the_integration_tests_are_few_programs() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut programs = Vec::new();
    for entry in fs::read_dir(&tests).expect("tests folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        // cargo makes a test program of every tests/*.rs and tests/*/main.rs.
        if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file() {
            programs.push(name.into_owned());
        }
    }
    programs.sort();
    assert_eq!(programs, ["alone", "it"], "test programs");
    for file in sources(&tests.join("alone")) {
        let text = code(&fs::read_to_string(&file).expect("readable"));
        let tests = text.matches("#[test]").count();
        let alone = text.matches("let _alone = alone();").count();
        assert_eq!(
            tests,
            alone,
            "{}: every test takes the process to itself",
            file.display()
        );
    }
}
