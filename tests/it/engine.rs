//! Headless engine tests: the GDScript scenes under godot-project/tests/, run by a real
//! Godot 4 (the one `tools/godot.sh` finds or fetches) on the addon built from this tree.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::engine::{self, demo_project, root, run_script};

#[test]
fn every_gdscript_file_loads_in_the_engine() {
    // gdparse accepts code that Godot refuses: the engine itself checks every script.
    let _serial = engine::serial();
    engine::addon();
    let project = demo_project();
    engine::prepare(&project);
    let mut scripts = Vec::new();
    collect_gd(&project, &project, &mut scripts);
    assert!(scripts.len() >= 10, "found only {scripts:?}");
    let mut failed = Vec::new();
    for script in &scripts {
        let mut cmd = engine::command(&project);
        cmd.args(["--check-only", "--script", script]);
        let out = engine::run_to_end(cmd, script, Duration::from_secs(60));
        if !out.success {
            failed.push(format!("{script}:\n{}", out.stderr));
        }
    }
    assert!(
        failed.is_empty(),
        "scripts the engine refuses:\n{}",
        failed.join("\n")
    );
    println!("{} scripts load in the engine", scripts.len());
}

fn collect_gd(project: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && name != "addons" && !name.starts_with('.') {
            collect_gd(project, &path, out);
        } else if name.ends_with(".gd") {
            let rel = path
                .strip_prefix(project)
                .unwrap()
                .to_string_lossy()
                .to_string();
            out.push(format!("res://{rel}"));
        }
    }
    out.sort();
}

#[test]
fn server_api() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_server_api.gd");
}

#[test]
fn godot_websocketpeer_client() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_godot_client.gd");
}

#[test]
fn external_client_processes() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_external_clients.gd");
}

#[test]
fn multiplayer_with_stock_clients() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_multiplayer.gd");
}

#[test]
fn wss_with_godot_crypto() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_tls.gd");
}

#[test]
fn addon_in_a_fresh_empty_project() {
    let _serial = engine::serial();
    engine::addon();
    let dir = std::env::temp_dir().join(format!("gws-fresh-{}", std::process::id()));
    engine::fresh_project(&dir);
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("addons/websocket_server"))
        .arg(dir.join("addons/"))
        .status()
        .unwrap();
    assert!(status.success());
    run_script(&dir, "res://check.gd");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn heartbeat_and_connection_limits() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_protection.gd");
}

#[test]
fn upgrade_decisions_origins_rates_and_graceful_stop() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_gatekeeping.gd");
}

#[test]
fn scene_multiplayer_authentication_with_stock_clients() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_mp_auth.gd");
}

#[test]
fn broadcast_and_groups_with_python_clients() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_fanout.gd");
}

#[test]
fn statistics_metrics_and_monitors() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_stats.gd");
}

#[test]
fn unreliable_packets_dropped_for_a_congested_stock_client() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_mp_unreliable.gd");
}

#[test]
fn compression_with_godot_and_python_clients() {
    let _serial = engine::serial();
    run_script(&demo_project(), "res://tests/test_compression.gd");
}

/// A message that arrives while `poll()`'s handlers run is handled in the same frame (the
/// server goes back for it before `poll()` returns), not one frame later: client A's
/// handler holds the main thread for 500 ms after answering "started", client B sends
/// when A sees "started", and both answers carry the same frame.
#[test]
fn a_message_that_arrives_during_poll_is_handled_in_the_same_frame() {
    use common::engine::Running;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let _serial = engine::serial();
    engine::addon();
    let project = demo_project();
    engine::prepare(&project);
    let port = engine::free_port();
    let mut cmd = engine::command(&project);
    cmd.args(["--script", "res://tests/poll/late_arrivals.gd", "--"])
        .arg(format!("--port={port}"));
    let mut server = Running::start(cmd);
    server.wait_line("READY", Duration::from_secs(60));
    common::client_runtime().block_on(async {
        let url = format!("ws://127.0.0.1:{port}/");
        let (mut a, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let (mut b, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        type Item = Result<Message, tokio_tungstenite::tungstenite::Error>;
        async fn text(ws: &mut (impl futures_util::Stream<Item = Item> + Unpin)) -> String {
            let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
            match next.expect("an answer within 10 s") {
                Some(Ok(Message::Binary(b))) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        fn frame(answer: &str) -> u64 {
            answer.rsplit(' ').next().unwrap().parse().unwrap()
        }
        for round in 0..3 {
            a.send(Message::text("slow")).await.unwrap();
            assert_eq!(text(&mut a).await, "started");
            // A's handler is holding the main thread now: B's message arrives during it.
            b.send(Message::text("b")).await.unwrap();
            let slow = text(&mut a).await;
            let late = text(&mut b).await;
            println!("round {round}: {slow:?}, {late:?}");
            assert_eq!(
                frame(&late),
                frame(&slow),
                "B's message arrived during poll() and was handled a frame later"
            );
            // One sent after that poll() is handled in a later frame.
            b.send(Message::text("after")).await.unwrap();
            let after = text(&mut b).await;
            assert!(frame(&after) > frame(&slow), "{after:?} after {slow:?}");
        }
    });
}
