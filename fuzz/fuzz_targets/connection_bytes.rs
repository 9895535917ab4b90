//! What a real connection does with arbitrary bytes after a valid upgrade: a server on
//! 127.0.0.1 (small buffers, so that the size limits are reached), a TCP client that
//! upgrades, sends the input and half-closes. The server must end the connection (never
//! hang), report it once, hand over only messages within its limits (text as valid
//! UTF-8), and stay able to serve the next client.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use godot_websocket_server::core::{Buffers, Event, Server};
use libfuzzer_sys::fuzz_target;

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn server() -> &'static Mutex<Server> {
    static SERVER: OnceLock<Mutex<Server>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut server = Server::new();
        let configured = server.configure(|c| {
            c.listen.bind_ip = "127.0.0.1".into();
            c.listen.buffers = Buffers {
                in_bytes: 4096,
                in_packets: 16,
                out_bytes: 4096,
                out_packets: 16,
            };
            c.connections.close_timeout = Duration::from_millis(200);
        });
        configured.unwrap();
        server.listen(0, &[], false).unwrap();
        Mutex::new(server)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut server = server().lock().unwrap();
    let limits = server.settings().listen.buffers;
    let mut tcp = TcpStream::connect(("127.0.0.1", server.local_port())).unwrap();
    tcp.write_all(UPGRADE).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "the upgrade was not answered");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // The input, then a half-close; a write error means the server already closed.
    let _ = tcp.write_all(data);
    let _ = tcp.shutdown(Shutdown::Write);
    tcp.set_read_timeout(Some(Duration::from_millis(1))).unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = Vec::new();
    let mut id = None;
    let mut gone = false;
    let mut sink = [0u8; 4096];
    while !gone {
        assert!(Instant::now() < deadline, "the connection never ended: {events:?}");
        let _ = tcp.read(&mut sink);
        server.poll(&mut events);
        for event in events.drain(..) {
            match event {
                Event::Connected { id: new, .. } => {
                    assert!(id.replace(new).is_none(), "connected twice");
                }
                Event::Message { id: from } => {
                    assert_eq!(Some(from), id);
                    let peer = server.peer(from).unwrap();
                    while let Some(m) = peer.recv() {
                        assert!(m.data.len() <= limits.in_bytes);
                        if m.is_text {
                            assert!(std::str::from_utf8(&m.data).is_ok());
                        }
                    }
                }
                Event::CloseRequested { id: from, .. } => assert_eq!(Some(from), id),
                Event::Disconnected { id: from, .. } => {
                    assert_eq!(Some(from), id, "disconnected before connected");
                    gone = true;
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        server.wait(Duration::from_millis(1));
    }
    assert_eq!(server.peer_count(), 0);
});
