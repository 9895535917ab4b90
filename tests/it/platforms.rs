//! Every platform the addon ships for, as far as this Linux x86_64 machine can run it:
//! the arm64 library inside Debian's arm64 Godot under qemu-user, the demo exported as a
//! dedicated server with Godot's release template (x86_64, and arm64 under qemu) and
//! chatted with from Python, and the release zip (every platform's library, checked by
//! tools/check-libs.py) unpacked into a fresh empty project. The Windows build runs
//! under wine in tools/test-windows.sh.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::engine::{self, Running, demo_project, free_port, root};

fn bash(script: &str, args: &[&str]) {
    let status = Command::new("bash")
        .arg(root().join(script))
        .args(args)
        .env("GODOT", engine::godot())
        .status()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(status.success(), "{script} {args:?} failed");
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts an exported dedicated server (through `launcher`, the emulator, if any) and
/// chats through it as tests/it/demo.rs does with the editor build.
fn chat_through_exported(dir: &Path, binary: &str, launcher: &[&str]) {
    let port = free_port();
    let mut cmd = match launcher.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(dir.join(binary));
            cmd
        }
        None => Command::new(dir.join(binary)),
    };
    cmd.args(["--", &format!("--port={port}")]).current_dir(dir);
    let mut server = Running::start(cmd);
    engine::chat_through_demo(&mut server, port);
}

#[test]
fn platform_arm64_library_in_arm64_godot_under_qemu() {
    let _serial = engine::serial();
    bash("tools/build-addon.sh", &["--platform", "linux-arm64"]);
    let (godot, launcher) = engine::godot_arm64();
    // The classes' API, raw mode with Godot's own client, wss with keys from Godot's
    // Crypto, high-level multiplayer with stock clients (one in a second arm64 engine).
    for script in [
        "res://tests/test_server_api.gd",
        "res://tests/test_godot_client.gd",
        "res://tests/test_tls.gd",
        "res://tests/test_multiplayer.gd",
    ] {
        let mut cmd = engine::command_of(&godot, &demo_project());
        cmd.env("GWS_ENGINE_LAUNCHER", &launcher);
        engine::run_script_with(cmd, &demo_project(), script);
    }
}

/// Runs an exported x86_64 binary here: Debian sid's template needs a newer C library than
/// this machine's, so a copy is pointed at the loader and libraries the engine from
/// tools/godot.sh uses (a user's Linux with glibc 2.41+ runs it as it is).
fn runnable_here(exported: &Path) {
    let godot = engine::godot();
    let read = |flag: &str| {
        let out = Command::new("patchelf")
            .arg(flag)
            .arg(&godot)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (interpreter, rpath) = (read("--print-interpreter"), read("--print-rpath"));
    let mut cmd = Command::new("patchelf");
    cmd.args(["--set-interpreter", &interpreter]);
    if !rpath.is_empty() {
        cmd.args(["--force-rpath", "--set-rpath", &rpath]);
    }
    assert!(cmd.arg(exported).status().unwrap().success(), "patchelf");
}

#[test]
fn platform_exported_x86_64_dedicated_server_chats_with_python() {
    let _serial = engine::serial();
    let dir = temp_dir("export-x86_64");
    bash("tools/export-server.sh", &[dir.to_str().unwrap()]);
    assert!(
        dir.join("libgodot_websocket_server.so").is_file(),
        "Godot copied the addon's library"
    );
    runnable_here(&dir.join("server.x86_64"));
    chat_through_exported(&dir, "server.x86_64", &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn platform_exported_arm64_dedicated_server_answers_from_the_host() {
    let _serial = engine::serial();
    let dir = temp_dir("export-arm64");
    bash(
        "tools/export-server.sh",
        &["--arch", "arm64", dir.to_str().unwrap()],
    );
    assert!(
        dir.join("libgodot_websocket_server.arm64.so").is_file(),
        "Godot copied the arm64 library"
    );
    let (_, launcher) = engine::godot_arm64();
    let launcher: Vec<&str> = launcher.split(' ').collect();
    chat_through_exported(&dir, "server.arm64", &launcher);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn platform_release_zip_loads_in_a_fresh_project() {
    let _serial = engine::serial();
    bash("tools/release.sh", &[]);
    let version = env!("CARGO_PKG_VERSION");
    let zip = root().join(format!("dist/godot-websocket-server-{version}.zip"));
    let listing = Command::new("unzip").arg("-Z1").arg(&zip).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let addon = "addons/websocket_server/";
    for file in [
        "websocket_server.gdextension",
        "LICENSE",
        "README.md",
        "icons/WebSocketServer.svg",
        "icons/WebSocketServerPeer.svg",
        "bin/libgodot_websocket_server.so",
        "bin/libgodot_websocket_server.arm64.so",
        "bin/godot_websocket_server.dll",
        "bin/libgodot_websocket_server.dylib",
    ] {
        assert!(
            listing.lines().any(|l| l == format!("{addon}{file}")),
            "{file} in the zip:\n{listing}"
        );
    }
    assert!(
        listing
            .lines()
            .all(|l| l.starts_with(addon) || addon.starts_with(l)),
        "only the addon at the zip's root:\n{listing}"
    );

    let project = std::env::temp_dir().join(format!("gws-release-{}", std::process::id()));
    engine::fresh_project(&project);
    let status = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&project)
        .status()
        .unwrap();
    assert!(status.success(), "unzip");
    let out = engine::run_script_with(engine::command(&project), &project, "res://check.gd");
    assert!(out.stdout.contains("PASS fresh project"));
    let _ = std::fs::remove_dir_all(&project);
}
