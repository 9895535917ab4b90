//! The demo project as a user meets it: `tools/demo.sh` started headless, real clients
//! joining (Python `websockets` for the chat, a stock `WebSocketMultiplayerPeer` client in
//! another engine process for the multiplayer demo).

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
