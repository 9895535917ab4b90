//! A WebSocket echo server on the engine-free core, driven the way Godot drives it:
//! one thread polls events and answers every message with the same kind of message.
//!
//! `cargo run --release --example echo -- [PORT] [--buffer-kb N] [--packets N]
//! [--handshake-timeout SECS] [--heartbeat SECS] [--compress] [--tls-cert PEM --tls-key PEM]`
//! prints `listening on PORT` once ready (wss with the two PEM files). Used by the
//! Autobahn conformance runs, the flood tests and the benchmark.

use std::collections::HashMap;
use std::time::Duration;

use godot_websocket_server::core::{Buffers, Event, Message, SendError, Server, TlsConfig};

pub fn main() {
    let mut port = 9001u16;
    let mut kb = 64usize;
    let mut packets = 1024usize;
    let mut handshake_timeout = 3.0f64;
    let mut heartbeat = 0.0f64;
    let mut compress = false;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--buffer-kb" => {
                kb = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--buffer-kb N")
            }
            "--packets" => {
                packets = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--packets N")
            }
            "--handshake-timeout" => {
                handshake_timeout = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--handshake-timeout SECS")
            }
            "--heartbeat" => {
                heartbeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--heartbeat SECS")
            }
            "--compress" => compress = true,
            "--tls-cert" => tls_cert = args.next(),
            "--tls-key" => tls_key = args.next(),
            p => port = p.parse().expect(
                "usage: echo [PORT] [--buffer-kb N] [--packets N] [--handshake-timeout SECS] [--heartbeat SECS] [--compress] [--tls-cert PEM --tls-key PEM]",
            ),
        }
    }
    let mut server = Server::new();
    let tls = tls_cert.zip(tls_key).map(|(cert, key)| {
        let read = |path: &str| std::fs::read_to_string(path).expect("a readable PEM file");
        TlsConfig::from_pem(&read(&cert), &read(&key), None).expect("TLS settings")
    });
    let configured = server.configure(|c| {
        c.listen.bind_ip = "127.0.0.1".into();
        c.listen.buffers = Buffers {
            in_bytes: kb * 1024,
            in_packets: packets,
            out_bytes: kb * 1024,
            out_packets: packets,
        };
        c.connections.handshake_timeout = Duration::from_secs_f64(handshake_timeout);
        c.connections.heartbeat_interval = Duration::from_secs_f64(heartbeat);
        c.connections.compression_enabled = compress;
        c.connections.tls = tls;
    });
    configured.expect("settings");
    if let Err(e) = server.listen(port, &[], false) {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
    println!("listening on {}", server.local_port());
    let mut events = Vec::new();
    // A message whose echo did not fit in the outbound buffer waits here; its peer is
    // not read meanwhile, so the client is slowed down by TCP instead of losing data.
    let mut waiting: HashMap<i32, Message> = HashMap::new();
    loop {
        let timeout = if waiting.is_empty() { 100 } else { 1 };
        server.wait(Duration::from_millis(timeout));
        server.poll(&mut events);
        let mut ready: Vec<i32> = waiting.keys().copied().collect();
        for event in events.drain(..) {
            match event {
                Event::Message { id } => ready.push(id),
                Event::Disconnected { id, .. } => {
                    waiting.remove(&id);
                }
                _ => {}
            }
        }
        for id in ready {
            let Some(peer) = server.peer(id) else {
                continue;
            };
            while let Some(msg) = waiting.remove(&id).or_else(|| peer.recv()) {
                match peer.send(msg.data.clone(), msg.is_text) {
                    Ok(()) => {}
                    Err(SendError::BufferFull { .. }) => {
                        waiting.insert(id, msg);
                        break;
                    }
                    Err(e) => {
                        eprintln!("echo: peer {id}: {e}");
                        break;
                    }
                }
            }
        }
    }
}
