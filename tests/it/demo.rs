//! The demo project as a user meets it: `tools/demo.sh` started headless, real clients
//! joining (Python `websockets` for the chat, a stock `WebSocketMultiplayerPeer` client in
//! another engine process for the multiplayer demo, the demo's chat page in two headless
//! Chromium pages).

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::engine::{self, Running, demo_project, free_port, root};

fn demo_sh(port: u16, args: &[&str]) -> Running {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("tools/demo.sh"))
        .args(args)
        .env("PORT", port.to_string())
        .env("GODOT", engine::godot())
        .env("GDRUST_SUPPRESSED_WARNINGS", "RegisterDocsInExport");
    Running::start(cmd)
}

#[test]
fn chat_demo_with_a_python_client() {
    let _serial = engine::serial();
    engine::addon();
    let port = free_port();
    let mut demo = demo_sh(port, &[]);
    engine::chat_through_demo(&mut demo, port);
}

/// The chat page a newcomer opens (`godot-project/demo/chat.html`): two Chromium pages chat
/// through the demo server. The screenshot is kept in `target/test-artifacts/chat.png`.
#[test]
fn chat_page_in_two_browser_pages() {
    let _serial = engine::serial();
    engine::addon();
    let port = free_port();
    let mut demo = demo_sh(port, &[]);
    demo.wait_line("Chat server listening", Duration::from_secs(120));
    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("chat.png");
    let _ = std::fs::remove_file(&screenshot);
    let browser = root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash tools/setup-clients.sh`"
    );
    let out = Command::new("node")
        .arg(browser.join("chat_page.mjs"))
        .arg(root().join("godot-project/demo/chat.html"))
        .arg(format!("ws://127.0.0.1:{port}/"))
        .arg(&screenshot)
        .output()
        .expect("run node (tools/setup-clients.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the chat page failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("hello from page A"), "{stdout}");
    assert!(stdout.contains("hi A, this is page B"), "{stdout}");
    // The server saw the two pages.
    let joined = demo
        .lines_so_far()
        .iter()
        .filter(|l| l.contains("connected from"))
        .count();
    assert!(joined >= 2, "the demo server saw {joined} pages");
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn multiplayer_demo_with_a_stock_client_process() {
    let _serial = engine::serial();
    engine::addon();
    let port = free_port();
    let mut server = demo_sh(port, &["--multiplayer"]);
    server.wait_line("Multiplayer server on", Duration::from_secs(300));
    let mut client_cmd = engine::command(&demo_project());
    client_cmd.args([
        "res://demo/multiplayer_demo.tscn",
        "--",
        &format!("--connect=ws://127.0.0.1:{port}"),
        "--once",
    ]);
    let mut client = Running::start(client_cmd);
    let line = client.wait_line("connected as ", Duration::from_secs(30));
    let id: i64 = line
        .trim_start_matches("connected as ")
        .trim()
        .parse()
        .unwrap();
    assert!(id >= 2, "{line}");
    // The hello goes to the server by RPC and comes back relayed to everyone.
    server.wait_line(&format!("peer {id} joined"), Duration::from_secs(10));
    server.wait_line(&format!("[{id}] hello from {id}"), Duration::from_secs(10));
    client.wait_line(&format!("[{id}] hello from {id}"), Duration::from_secs(10));
    let status = client.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "client exit: {status:?}"
    );
    server.wait_line(&format!("peer {id} left"), Duration::from_secs(10));
}
