//! A browser's own WebSocket client (Debian's headless Chromium driven by
//! playwright-core), as a Godot web export connects: subprotocol, text and binary,
//! a clean close with code and reason (over ws:// and wss://), and Godot 4's multiplayer
//! id message.
//! `bash tools/setup-clients.sh` installs Chromium and playwright-core.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;

use common::*;
use godot_websocket_server::core::{Event, Server, TlsConfig};

fn run_browser(mode: &'static str, url: String) -> thread::JoinHandle<Output> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash tools/setup-clients.sh`"
    );
    thread::spawn(move || {
        Command::new("node")
            .env("ACCEPT_TEST_CERTIFICATE", "1")
            .arg(dir.join("client.mjs"))
            .arg(mode)
            .arg(url)
            .output()
            .expect("run node (tools/setup-clients.sh installs what the browser test needs)")
    })
}

fn check(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "browser client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn chromium_websocket_round_trip_and_close() {
    round_trip_and_close(listening(&["chat"], |_| {}), "ws");
}

/// The same over wss://: Chromium's own TLS (BoringSSL) against the server's records.
#[test]
fn chromium_wss_round_trip_and_close() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls = TlsConfig::from_pem(&cert.pem(), &key.serialize_pem(), None).unwrap();
    round_trip_and_close(
        listening(&["chat"], |s| {
            s.configure(|c| c.connections.tls = Some(tls)).unwrap()
        }),
        "wss",
    );
}

fn round_trip_and_close(mut server: Server, scheme: &str) {
    let url = format!("{scheme}://127.0.0.1:{}/", server.local_port());
    let child = run_browser("echo", url);
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 60, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let out = check(&child.join().unwrap());
    assert!(out.contains(r#""protocol":"chat""#), "{out}");
    assert!(out.contains(r#""text":"hello from chromium""#), "{out}");
    assert!(out.contains(r#""bin":[0,1,254,255]"#), "{out}");
    assert!(
        out.contains(r#""close":{"code":4000,"reason":"browser done","clean":true}"#),
        "{out}"
    );
    let id = connected_ids(&log)[0];
    assert!(log.contains(&Event::CloseRequested {
        id,
        code: 4000,
        reason: "browser done".into()
    }));
    assert!(log.contains(&Event::Disconnected {
        id,
        was_clean: true
    }));
}

#[test]
fn chromium_gets_the_multiplayer_id_message() {
    let mut server = Server::new();
    server
        .configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
    server.listen(0, &[], true).unwrap();
    let child = run_browser("multiplayer", url(&server));
    let mut log = Vec::new();
    // Answer the browser's packet to its sender, as SceneMultiplayer would route it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut batch = Vec::new();
    while !child.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "browser test timed out"
        );
        server.wait(std::time::Duration::from_millis(20));
        server.poll(&mut batch);
        log.append(&mut batch);
        while let Some(p) = server.mp_get_packet() {
            let mut reply = p.data.to_vec();
            reply.reverse();
            server.mp_put_packet(p.from, &reply, false).unwrap();
        }
    }
    let out = check(&child.join().unwrap());
    let id = connected_ids(&log)[0];
    assert!(out.contains(r#""idLength":4"#), "{out}");
    assert!(out.contains(&format!(r#""id":{id}"#)), "{out}");
    assert!(out.contains(r#""reply":[43,42]"#), "{out}");
}
