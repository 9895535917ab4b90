//! Headless engine tests: the GDScript scenes under godot-project/tests/, run by the
//! Godot 4 binary named by `GODOT`. Without it they are reported as ignored; run them
//! with `GODOT=/path/to/godot bash tools/test.sh` (which builds the addon first).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NEEDS_GODOT: &str = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn godot() -> PathBuf {
    PathBuf::from(std::env::var_os("GODOT").expect(NEEDS_GODOT))
}

fn python() -> PathBuf {
    std::env::var_os("WS_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from)
}

/// Makes `project` loadable by an export build and checks that the addon is built.
fn prepare(project: &Path) {
    let status = Command::new("bash")
        .arg(root().join("tools/prepare-project.sh"))
        .arg(project)
        .status()
        .unwrap();
    assert!(status.success());
    let bin = project.join("addons/websocket_server/bin");
    let built = std::fs::read_dir(&bin)
        .map(|d| d.count() > 0)
        .unwrap_or(false);
    assert!(
        built,
        "no library in {}: run `bash tools/build-addon.sh` first",
        bin.display()
    );
}

/// Runs one script headless; prints the engine's output; asserts exit code 0 and a PASS line.
fn run(project: &Path, script: &str) {
    prepare(project);
    let mut child = Command::new(godot())
        .args(["--headless", "--path"])
        .arg(project)
        .args(["--script", script])
        .env("WS_PYTHON", python())
        .env("GDRUST_SUPPRESSED_WARNINGS", "RegisterDocsInExport")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Godot");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {script}: {status}\n{stdout}\n--- stderr\n{stderr}");
    assert!(status.success(), "{script} failed ({status})");
    assert!(stdout.contains("PASS"), "{script} printed no PASS line");
}

fn demo_project() -> PathBuf {
    root().join("godot-project")
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn server_api() {
    run(&demo_project(), "res://tests/test_server_api.gd");
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn godot_websocketpeer_client() {
    run(&demo_project(), "res://tests/test_godot_client.gd");
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn external_client_processes() {
    run(&demo_project(), "res://tests/test_external_clients.gd");
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn multiplayer_with_stock_clients() {
    run(&demo_project(), "res://tests/test_multiplayer.gd");
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn wss_with_godot_crypto() {
    run(&demo_project(), "res://tests/test_tls.gd");
}

#[test]
#[ignore = "needs a Godot 4 binary: GODOT=/path/to/godot bash tools/test.sh"]
fn addon_in_a_fresh_empty_project() {
    let dir = std::env::temp_dir().join(format!("gws-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("addons")).unwrap();
    std::fs::write(
        dir.join("project.godot"),
        "config_version=5\n\n[application]\n\nconfig/name=\"Fresh\"\n",
    )
    .unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("addons/websocket_server"))
        .arg(dir.join("addons/"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(
        demo_project().join("tests/fresh_project_check.gd"),
        dir.join("check.gd"),
    )
    .unwrap();
    run(&dir, "res://check.gd");
    let _ = std::fs::remove_dir_all(&dir);
}
