//! What a user sees in the Godot editor (the engine here is the editor build, run with
//! `--headless --editor`): the classes' F1 help, and hot reload of the library with a
//! server listening. Each test makes a project of its own next to a copy of the addon,
//! with a `@tool` autoload from godot-project/tests/editor/ that does what a user would.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::engine::{self, demo_project, root};

/// A new project with the addon and `probe` as an autoload; its own editor settings and
/// caches (a user's first editor start) under `dir/user`.
fn editor_project(name: &str, probe: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-editor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("project/addons")).unwrap();
    let project = dir.join("project");
    std::fs::write(
        project.join("project.godot"),
        format!(
            "config_version=5\n\n[application]\n\nconfig/name=\"{name}\"\n\n[autoload]\n\nProbe=\"*res://{probe}\"\n"
        ),
    )
    .unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("addons/websocket_server"))
        .arg(project.join("addons/"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(
        demo_project().join("tests/editor").join(probe),
        project.join(probe),
    )
    .unwrap();
    project
}

/// Opens the editor on `project` until the probe quits it; its stdout.
fn editor(project: &Path, env: &[(&str, String)]) -> String {
    let user = project.parent().unwrap().join("user");
    let mut cmd = engine::command(project);
    cmd.arg("--editor")
        .env("XDG_CONFIG_HOME", user.join("config"))
        .env("XDG_CACHE_HOME", user.join("cache"))
        .env("XDG_DATA_HOME", user.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = engine::run_to_end(cmd, "editor", Duration::from_secs(120));
    assert!(out.success, "the editor did not exit cleanly");
    out.stdout
}

fn help_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("HELP ")).collect()
}

const DOCS: [&str; 2] = [
    "HELP WebSocketServer: DOCS",
    "HELP WebSocketServerPeer: DOCS",
];

#[test]
fn f1_help_shows_the_documentation() {
    let _serial = engine::serial();
    engine::addon();
    // A user drops the addon into a project and opens the editor (first start: the editor
    // imports the project and loads the extension during its first scan), then again.
    let project = editor_project("help", "help_probe.gd");
    assert_eq!(
        help_lines(&editor(&project, &[])),
        DOCS,
        "first editor start"
    );
    assert_eq!(
        help_lines(&editor(&project, &[])),
        DOCS,
        "second editor start"
    );
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}

#[test]
fn f1_help_after_the_editors_doc_cache_is_rebuilt() {
    // The editor has no doc cache of its own yet (a new Godot version, or a cleared cache)
    // while the project already lists the extension, so it loads at startup and Godot 4.6
    // builds its help from scratch without the pages extensions registered. The library's
    // editor plugin (rust/godot/editor_help.rs) has the editor load its help again once
    // that build is done: the documentation shows on that first start too.
    let _serial = engine::serial();
    engine::addon();
    let project = editor_project("help-cache", "help_probe.gd");
    engine::prepare(&project);
    assert_eq!(
        help_lines(&editor(&project, &[])),
        DOCS,
        "first start with an empty editor doc cache"
    );
    assert_eq!(help_lines(&editor(&project, &[])), DOCS, "after a restart");
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}

#[test]
fn hot_reload_with_a_listening_server() {
    let _serial = engine::serial();
    engine::addon();
    let project = editor_project("reload", "reload_probe.gd");
    engine::prepare(&project);
    // The "rebuilt" library: the build's output, written as a new file over the addon's.
    let fresh = root().join("target/release/libgodot_websocket_server.so");
    let port = engine::free_port();
    let out = editor(
        &project,
        &[
            ("RELOAD_PORT", port.to_string()),
            ("RELOAD_LIBRARY", fresh.display().to_string()),
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("RELOAD ")).collect();
    assert_eq!(
        lines,
        [
            "RELOAD listen before: 0",
            "RELOAD echo before: true",
            "RELOAD library replaced: 0",
            "RELOAD reload_extension: 0",
            "RELOAD same object usable: true",
            "RELOAD listen in extension_loaded: 0",
            "RELOAD listening after reload: true",
            "RELOAD old client closed: true code 1001",
            "RELOAD echo after: true",
            "RELOAD done",
        ]
    );
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}
