//! A WebSocket echo server on the engine-free core, driven the way Godot drives it:
//! one thread polls events and answers every message with the same kind of message.
//!
//! `cargo run --release --example echo -- [PORT] [--buffer-kb N] [--packets N]`
//! prints `listening on PORT` once ready. Used by the Autobahn conformance run and
//! the benchmark.

use std::time::Duration;

use godot_websocket_server::core::{Buffers, Event, Server};

fn main() {
    let mut port = 9001u16;
    let mut kb = 64i64;
    let mut packets = 1024i64;
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
            p => {
                port = p
                    .parse()
                    .expect("usage: echo [PORT] [--buffer-kb N] [--packets N]")
            }
        }
    }
    let mut server = Server::new();
    server.set_bind_ip("127.0.0.1");
    server
        .set_buffers(Buffers::from_godot(kb, packets, kb, packets).expect("buffer sizes"))
        .unwrap();
    if let Err(e) = server.listen(port, &[], false) {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
    println!("listening on {}", server.local_port());
    let mut events = Vec::new();
    loop {
        server.wait(Duration::from_millis(100));
        server.poll(&mut events);
        for event in events.drain(..) {
            if let Event::Message { id } = event
                && let Some(peer) = server.peer(id)
            {
                while let Some(msg) = peer.recv() {
                    if let Err(e) = peer.send(msg.data, msg.is_text) {
                        eprintln!("echo: peer {id}: {e}");
                    }
                }
            }
        }
    }
}
