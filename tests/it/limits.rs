//! max_connections and max_connections_per_ip with real sockets: the exact boundary,
//! half-open sockets counted, HTTP 503 past it, slots freed when clients leave.

use crate::common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use godot_websocket_server::core::{Event, Refused};

/// A tokio-tungstenite client whose socket has the source address `from`.
async fn connect_from(
    from: &str,
    port: u16,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    tokio_tungstenite::client_async(
        format!("ws://127.0.0.1:{port}/"),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .map(|(ws, _)| ws)
}

fn disconnects(log: &[Event]) -> usize {
    count(log, |e| matches!(e, Event::Disconnected { .. }))
}

#[test]
fn max_connections_counts_handshakes_and_frees_slots() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.max_connections = 3).unwrap()
    });
    assert_eq!(server.settings().live.max_connections, 3);
    let u = url(&server);
    let port = server.local_port();
    let a = rt.block_on(connect(&u, &[])).unwrap();
    let b = rt.block_on(connect(&u, &[])).unwrap();
    // A half-open socket (connected, no request yet) takes the third slot.
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.open_connections() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.open_connections(), 3);
    let (status, body) = refusal(rt.block_on(connect(&u, &[])).unwrap_err());
    assert_eq!(status, 503);
    assert!(body.contains("max_connections"), "{body}");
    // The half-open socket finishes its upgrade: it was counted, so it gets in.
    finish_upgrade(&mut half);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 3);
    assert_eq!(refusal(rt.block_on(connect(&u, &[])).unwrap_err()).0, 503);
    // One leaves: exactly one slot frees up.
    drop(a);
    poll_until(&mut server, &mut log, 5, |l| disconnects(l) == 1);
    let c = rt.block_on(connect(&u, &[])).unwrap();
    assert_eq!(refusal(rt.block_on(connect(&u, &[])).unwrap_err()).0, 503);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 4);
    // Refused clients never became peers, and were counted.
    poll_for(&mut server, &mut log, 200);
    assert_eq!(connected_ids(&log).len(), 4);
    assert_eq!(server.stats().refused_for(Refused::Limit), 3);
    // Raising the limit applies at once; 0 is no limit.
    server.configure(|c| c.live.max_connections = 0).unwrap();
    let more: Vec<_> = (0..5)
        .map(|_| rt.block_on(connect(&u, &[])).unwrap())
        .collect();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 9);
    drop((b, c, half, more));
}

#[test]
fn max_connections_per_ip_is_per_address() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.max_connections_per_ip = 2).unwrap()
    });
    let port = server.local_port();
    let a1 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    let a2 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    let (status, body) = refusal(rt.block_on(connect_from("127.0.0.1", port)).unwrap_err());
    assert_eq!(status, 503);
    assert!(body.contains("max_connections_per_ip"), "{body}");
    // Another address still gets in, up to its own limit.
    let b1 = rt.block_on(connect_from("127.0.0.2", port)).unwrap();
    let b2 = rt.block_on(connect_from("127.0.0.2", port)).unwrap();
    assert_eq!(
        refusal(rt.block_on(connect_from("127.0.0.2", port)).unwrap_err()).0,
        503
    );
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 4);
    let addrs: Vec<String> = connected_ids(&log)
        .iter()
        .map(|id| server.peer(*id).unwrap().remote_ip())
        .collect();
    assert_eq!(addrs.iter().filter(|a| *a == "127.0.0.2").count(), 2);
    // 127.0.0.1 frees a slot when one of its clients leaves.
    drop(a1);
    poll_until(&mut server, &mut log, 5, |l| disconnects(l) == 1);
    let a3 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    assert_eq!(server.stats().refused_for(Refused::PerIpLimit), 2);
    drop((a2, a3, b1, b2));
}
