//! Godot 4's multiplayer wire protocol (gd_mp_api) against raw WebSocket clients:
//! the id message, routing by target, one packet queue, refusing new connections.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Event, SendError, Server};
use tokio_tungstenite::tungstenite::Message;

fn mp_server() -> Server {
    let mut server = Server::new();
    server
        .configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
    server.listen(0, &[], true).unwrap();
    server
}

/// Connects and reads the id message: one binary message of 4 bytes, little-endian.
async fn join(url: &str) -> (Client, i32) {
    let mut c = connect(url, &[]).await.unwrap();
    match c.next().await.unwrap().unwrap() {
        Message::Binary(b) => {
            assert_eq!(b.len(), 4, "the id message is exactly 4 bytes");
            (c, i32::from_le_bytes(b[..].try_into().unwrap()))
        }
        other => panic!("expected the binary id message, got {other:?}"),
    }
}

async fn next_binary(c: &mut Client) -> Vec<u8> {
    match tokio::time::timeout(Duration::from_secs(5), c.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) => b.to_vec(),
        other => panic!("expected a binary packet, got {other:?}"),
    }
}

#[test]
fn id_message_and_routing_by_target() {
    let rt = client_runtime();
    let mut server = mp_server();
    let u = url(&server);
    let mut clients: Vec<(Client, i32)> = (0..3).map(|_| rt.block_on(join(&u))).collect();
    let ids: Vec<i32> = clients.iter().map(|(_, id)| *id).collect();
    assert!(ids.iter().all(|id| *id >= 2), "{ids:?}");
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 3);
    let mut seen = connected_ids(&log);
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        seen, expected,
        "Connected events carry the ids sent to the clients"
    );

    // 0: everyone.
    server.mp_put_packet(0, b"all", false).unwrap();
    // > 0: one peer.
    server.mp_put_packet(ids[1], b"only 1", false).unwrap();
    // < 0: everyone but that peer.
    server.mp_put_packet(-ids[0], b"not 0", false).unwrap();
    // A marker to all, so that "nothing else arrived" can be checked.
    server.mp_put_packet(0, b"end", false).unwrap();
    let got: Vec<Vec<Vec<u8>>> = rt.block_on(async {
        let mut all = Vec::new();
        for (c, _) in clients.iter_mut() {
            let mut mine = Vec::new();
            loop {
                let p = next_binary(c).await;
                let end = p == b"end";
                mine.push(p);
                if end {
                    break;
                }
            }
            all.push(mine);
        }
        all
    });
    let v = |s: &[&str]| s.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(got[0], v(&["all", "end"]));
    assert_eq!(got[1], v(&["all", "only 1", "not 0", "end"]));
    assert_eq!(got[2], v(&["all", "not 0", "end"]));
    assert_eq!(
        server.mp_put_packet(12345, b"x", false),
        Err((12345, SendError::Closed)),
        "unknown target"
    );

    // Clients to server: one queue, arrival order, sender reported; no Message events.
    rt.block_on(async {
        clients[2]
            .0
            .send(Message::binary(b"from 2".to_vec()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        clients[0]
            .0
            .send(Message::binary(b"from 0".to_vec()))
            .await
            .unwrap();
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.mp_available_packets() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "packets did not arrive"
        );
        server.wait(Duration::from_millis(10));
        server.poll(&mut log);
    }
    assert!(
        !log.iter().any(|e| matches!(e, Event::Message { .. })),
        "no Message events in multiplayer mode"
    );
    assert_eq!(server.mp_next_packet_peer(), Some(ids[2]));
    let p = server.mp_get_packet().unwrap();
    assert_eq!((p.from, &p.data[..]), (ids[2], &b"from 2"[..]));
    let p = server.mp_get_packet().unwrap();
    assert_eq!((p.from, &p.data[..]), (ids[0], &b"from 0"[..]));
    assert!(server.mp_get_packet().is_none());
}

#[test]
fn packets_before_a_disconnect_are_delivered_first() {
    let rt = client_runtime();
    let mut server = mp_server();
    let (mut c, id) = rt.block_on(join(&url(&server)));
    rt.block_on(async {
        for i in 0..3u8 {
            c.send(Message::binary(vec![i])).await.unwrap();
        }
        c.close(None).await.unwrap();
        while let Some(Ok(_)) = c.next().await {}
    });
    // The disconnect is held back while the peer's packets are unread.
    let mut log = Vec::new();
    poll_for(&mut server, &mut log, 500);
    assert_eq!(server.mp_available_packets(), 3);
    assert!(
        !log.iter().any(|e| matches!(e, Event::Disconnected { .. })),
        "{log:?}"
    );
    assert!(server.has_peer(id));
    for i in 0..3u8 {
        let p = server.mp_get_packet().unwrap();
        assert_eq!((p.from, &p.data[..]), (id, &[i][..]));
    }
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(log.contains(&Event::Disconnected {
        id,
        was_clean: true
    }));
    assert!(!server.has_peer(id));
}

#[test]
fn refusing_new_connections_keeps_existing_peers() {
    let rt = client_runtime();
    let mut server = mp_server();
    let u = url(&server);
    let (mut old, old_id) = rt.block_on(join(&u));
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    server
        .configure(|c| c.live.refuse_new_connections = true)
        .unwrap();
    assert!(server.settings().live.refuse_new_connections);
    match rt.block_on(connect(&u, &[])) {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("a new client must be refused, got {:?}", other.map(|_| ())),
    }
    server.mp_put_packet(old_id, b"still here", false).unwrap();
    assert_eq!(rt.block_on(next_binary(&mut old)), b"still here");
    server
        .configure(|c| c.live.refuse_new_connections = false)
        .unwrap();
    let (_new, new_id) = rt.block_on(join(&u));
    assert!(new_id != old_id && new_id >= 2);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
}

#[test]
fn full_outbound_buffer_is_an_error_not_a_loss() {
    let rt = client_runtime();
    let mut server = mp_server();
    let (c, id) = rt.block_on(join(&url(&server)));
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let chunk = vec![9u8; 8 * 1024];
    let mut sent = 0;
    let err = loop {
        match server.mp_put_packet(id, &chunk, false) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100_000, "sends never failed");
    };
    assert!(
        matches!(err, (i, SendError::BufferFull { .. }) if i == id),
        "{err:?}"
    );
    let got = rt.block_on(async move {
        let mut c = c;
        let mut n = 0;
        while n < sent {
            assert_eq!(next_binary(&mut c).await.len(), 8 * 1024);
            n += 1;
        }
        n
    });
    assert_eq!(got, sent, "every accepted packet arrives");
}
