//! permessage-deflate (RFC 7692) over real sockets: what goes on the wire (read raw, frame
//! by frame), clients nobody here wrote (Python `websockets`, Node `ws`, headless
//! Chromium), clients that offer nothing, a compression bomb and broken DEFLATE data.

use crate::alone;
use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use godot_websocket_server::core::{Event, Server};

/// A server with compression on and 4 MB inbound and outbound buffers.
fn compressing(f: impl FnOnce(&mut Server)) -> Server {
    listening(&[], |s| {
        s.configure(|c| c.connections.compression_enabled = true)
            .unwrap();
        s.configure(|c| c.listen.buffers = common::buffers(4096, 1024, 4096, 1024))
            .unwrap();
        f(s);
    })
}

/// Game state as JSON, `len` bytes: what compression is for.
fn json(len: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"id\":{i},\"x\":{}.5,\"y\":{},\"hp\":100}},",
            i * 7 % 500,
            i * 3 % 300
        ));
        i += 1;
    }
    s.truncate(len);
    s
}

/// A raw client: the upgrade written by hand (offering `extensions` when not empty);
/// returns the socket and the response head.
fn raw_client(server: &Server, extensions: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", server.local_port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let offer = match extensions {
        "" => String::new(),
        e => format!("Sec-WebSocket-Extensions: {e}\r\n"),
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    (s, String::from_utf8(head).unwrap())
}

/// One frame as the server wrote it: (first byte, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

/// A client's masked frame.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [7u8, 1, 9, 3];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Compressed as a client does: raw DEFLATE, sync flush, the last 4 octets left out.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
    out
}

/// Inflated as a client does (the 4 octets appended).
fn inflate(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(16 << 20);
    Decompress::new(false)
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// The first peer's id once it is connected.
fn first_peer(server: &mut Server, log: &mut Vec<Event>) -> i32 {
    poll_until(server, log, 5, |l| !connected_ids(l).is_empty());
    connected_ids(log)[0]
}

#[test]
fn agreed_messages_go_compressed_with_rsv1_and_short_ones_as_they_are() {
    let _alone = alone();
    let mut server = compressing(|_| {});
    let (mut s, head) = raw_client(&server, "permessage-deflate; client_max_window_bits");
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
        "{head}"
    );
    let mut log = Vec::new();
    let id = first_peer(&mut server, &mut log);
    let peer = server.peer(id).unwrap().clone();
    assert!(peer.is_compressed());
    let state = json(2048);
    peer.send(state.clone().into(), true).unwrap();
    peer.send(vec![1u8; 255].into(), false).unwrap(); // under the default threshold (256)
    let (first, payload) = read_frame(&mut s);
    assert_eq!(first, 0xc1, "FIN, RSV1, text");
    assert!(payload.len() * 3 < state.len(), "{} bytes", payload.len());
    assert_eq!(inflate(&payload), state.as_bytes());
    let (first, payload) = read_frame(&mut s);
    assert_eq!((first, payload.len()), (0x82, 255), "short: uncompressed");
    // The threshold applies at once.
    server
        .configure(|c| c.live.compression_threshold = 0)
        .unwrap();
    peer.send(vec![1u8; 10].into(), false).unwrap();
    let (first, payload) = read_frame(&mut s);
    assert_eq!(first, 0xc2);
    assert_eq!(inflate(&payload), [1u8; 10]);
    // And what the client sends compressed arrives as the game's message.
    s.write_all(&client_frame(0xc1, &deflate(state.as_bytes())))
        .unwrap();
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Message { id })
    });
    let got = peer.recv().unwrap();
    assert!(got.is_text);
    assert_eq!(got.data, state.as_bytes());
}

#[test]
fn a_broadcast_shares_one_compressed_copy_and_plain_clients_get_it_plain() {
    let _alone = alone();
    let mut server = compressing(|_| {});
    let mut clients: Vec<TcpStream> = (0..3)
        .map(|_| raw_client(&server, "permessage-deflate").0)
        .collect();
    let (mut plain, head) = raw_client(&server, "");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    let (mut small_window, head) =
        raw_client(&server, "permessage-deflate; server_max_window_bits=10");
    assert!(head.contains("server_max_window_bits=10"), "{head}");
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 5);
    let state = json(4000);
    server.broadcast(state.as_bytes(), true, &[]).unwrap();
    let payloads: Vec<Vec<u8>> = clients
        .iter_mut()
        .map(|c| {
            let (first, payload) = read_frame(c);
            assert_eq!(first, 0xc1);
            payload
        })
        .collect();
    assert!(
        payloads.iter().all(|p| p == &payloads[0]),
        "the same bytes for all"
    );
    assert_eq!(inflate(&payloads[0]), state.as_bytes());
    assert_eq!(read_frame(&mut plain), (0x81, state.clone().into_bytes()));
    let (first, payload) = read_frame(&mut small_window);
    assert_eq!(first, 0xc1);
    assert_eq!(inflate(&payload), state.as_bytes());
}

#[test]
fn compression_off_or_no_offer_keeps_connections_as_they_were() {
    let _alone = alone();
    let rt = client_runtime();
    // Off (the default): an offer is not answered.
    let mut server = listening(&[], |_| {});
    let (_s, head) = raw_client(&server, "permessage-deflate");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    let mut log = Vec::new();
    let id = first_peer(&mut server, &mut log);
    assert!(!server.peer(id).unwrap().is_compressed());
    // On, and a client that offers nothing (tungstenite, as Godot's WebSocketPeer).
    let mut server = compressing(|_| {});
    let (mut c, _, peer) = one_client(&rt, &mut server);
    assert!(!peer.is_compressed());
    let state = json(3000);
    peer.send(state.clone().into(), true).unwrap();
    let got = rt.block_on(async {
        use futures_util::StreamExt;
        c.next().await.unwrap().unwrap()
    });
    assert_eq!(got.into_text().unwrap().as_str(), state);
}

#[test]
fn a_compression_bomb_is_refused_with_1009_without_inflating_it() {
    let _alone = alone();
    let mut server = compressing(|s| {
        s.configure(|c| c.listen.buffers = common::buffers(1024, 1024, 1024, 1024))
            .unwrap();
    });
    let (mut s, _) = raw_client(&server, "permessage-deflate");
    let mut log = Vec::new();
    first_peer(&mut server, &mut log);
    let bomb = deflate(&vec![0u8; 100 << 20]);
    assert!(
        bomb.len() < 150 * 1024,
        "100 MB of zeros in {} bytes",
        bomb.len()
    );
    let before = rss_kb();
    s.write_all(&client_frame(0xc2, &bomb)).unwrap();
    let (mut close, mut peak) = (None, rss_kb());
    while close.is_none() {
        server.poll(&mut log);
        peak = peak.max(rss_kb());
        match read_frame(&mut s) {
            (0x88, payload) => close = Some(u16::from_be_bytes([payload[0], payload[1]])),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!(close, Some(1009));
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(
        peak.saturating_sub(before) < 30 * 1024,
        "the server's memory grew by {} KB for a 100 MB bomb",
        peak - before
    );
    assert!(log.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            was_clean: false,
            ..
        }
    )));
    assert!(!log.iter().any(|e| matches!(e, Event::Message { .. })));
}

#[test]
fn broken_deflate_data_closes_with_1007() {
    let _alone = alone();
    let mut server = compressing(|_| {});
    let (mut s, _) = raw_client(&server, "permessage-deflate");
    let mut log = Vec::new();
    first_peer(&mut server, &mut log);
    s.write_all(&client_frame(0xc2, &[0xff; 16])).unwrap();
    let mut close = None;
    while close.is_none() {
        server.poll(&mut log);
        if let (0x88, payload) = read_frame(&mut s) {
            close = Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
    assert_eq!(close, Some(1007));
}

/// The resident memory of this process, in KB.
fn rss_kb() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const PY_CLIENT: &str = r#"
import asyncio, sys, json, websockets
async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert ext == "permessage-deflate; server_no_context_takeover; client_no_context_takeover", ext
        sizes = [0, 1, 100, 255, 256, 1000, 4096, 65536, 1 << 20]
        for n in sizes:
            text = (json.dumps({"players": [{"id": i, "x": i * 7} for i in range(n // 10 + 1)]}) * 2)[:n]
            data = bytes((i * 31) % 251 for i in range(n))
            for m in (text, data):
                await ws.send(m)
                r = await ws.recv()
                assert r == m and type(r) == type(m), (n, type(m), len(r))
        await ws.close()
    print("python ok")
asyncio.run(main(sys.argv[1]))
"#;

#[test]
fn python_websockets_negotiates_and_round_trips_0_bytes_to_1_mb() {
    let _alone = alone();
    let mut server = compressing(|_| {});
    let u = url(&server);
    let log = echo_for_python(&mut server, PY_CLIENT, vec![u]);
    assert_eq!(count(&log, |e| matches!(e, Event::Message { .. })), 18);
}

/// Runs tests/browser/compression.mjs with `client` (`node` or `chromium`).
fn run_node(client: &'static str, url: String) -> thread::JoinHandle<Output> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/ws").exists() && dir.join("node_modules/playwright-core").exists(),
        "Node `ws` or playwright-core is not installed: run `bash tools/setup-clients.sh`"
    );
    thread::spawn(move || {
        Command::new("node")
            .arg(dir.join("compression.mjs"))
            .arg(client)
            .arg(url)
            .output()
            .expect("run node (tools/setup-clients.sh installs it)")
    })
}

fn node_round_trip(client: &'static str) {
    let mut server = compressing(|_| {});
    let child = run_node(client, url(&server));
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 90, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let out = child.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{client} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(r#""extensions":"permessage-deflate; server_no_context_takeover; client_no_context_takeover""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""echoed":18"#), "{stdout}");
    let id = connected_ids(&log)[0];
    assert!(log.contains(&Event::Disconnected {
        id,
        was_clean: true
    }));
}

#[test]
fn node_ws_negotiates_and_round_trips_0_bytes_to_1_mb() {
    let _alone = alone();
    node_round_trip("node");
}

#[test]
fn chromium_negotiates_and_round_trips_0_bytes_to_1_mb() {
    let _alone = alone();
    node_round_trip("chromium");
}
