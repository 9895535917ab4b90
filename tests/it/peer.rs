//! A peer as the game uses it, with real clients: the outbound limit, messages readable
//! after a close, Godot's buffer rules.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Buffers, Error, Event, ReadyState, SendError, Server};
use tokio_tungstenite::tungstenite::Message;

#[test]
fn outbound_limit_fails_sends_and_loses_nothing() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 64, 1024))
            .unwrap()
    });
    // A client with a small receive buffer that does not read yet.
    let port = server.local_port();
    let c = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
            .await
            .unwrap()
            .0
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let peer = server.peer(connected_ids(&log)[0]).unwrap().clone();
    let chunk = Bytes::from(vec![7u8; 16 * 1024]);
    let mut sent = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        assert!(
            Instant::now() < deadline,
            "sends never failed: {sent} accepted"
        );
        match peer.send(chunk.clone(), false) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(peer.buffered_amount() <= 64 * 1024);
        if sent.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    assert!(matches!(err, SendError::BufferFull { .. }), "{err:?}");
    assert!(peer.buffered_amount() <= 64 * 1024);
    assert!(matches!(
        peer.send(Bytes::from(vec![0u8; 65 * 1024]), false),
        Err(SendError::TooLarge { .. })
    ));
    // Everything accepted arrives, whole.
    let got = rt.block_on(async move {
        let mut c = c;
        let mut n = 0;
        while n < sent {
            let m = c.next().await.unwrap().unwrap();
            assert_eq!(m.into_data().len(), 16 * 1024);
            n += 1;
        }
        n
    });
    assert_eq!(got, sent);
}

#[test]
fn messages_sent_before_a_close_stay_readable_after_it() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let (mut c, mut log, peer) = one_client(&rt, &mut server);
    let id = peer.id();
    rt.block_on(async {
        for i in 0..10 {
            c.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        c.close(None).await.unwrap();
        while let Some(Ok(_)) = c.next().await {}
    });
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(!server.has_peer(id));
    assert_eq!(peer.ready_state(), ReadyState::Closed);
    let got: Vec<String> = std::iter::from_fn(|| peer.recv())
        .map(|m| String::from_utf8(m.data.to_vec()).unwrap())
        .collect();
    assert_eq!(got, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(
        peer.close_code(),
        1005,
        "a close frame without a code reports 1005"
    );
}

#[test]
fn buffers_are_checked_and_change_only_while_stopped() {
    let none = Buffers {
        in_bytes: 0,
        ..Buffers::default()
    };
    assert!(matches!(
        Server::new().configure(|c| c.listen.buffers = none),
        Err(Error::InvalidParameter(_))
    ));
    let b = common::buffers(4, 1024, 64, 1);
    let mut s = listening(&[], |_| {});
    assert!(
        matches!(s.configure(|c| c.listen.buffers = b), Err(Error::Busy(_))),
        "only before listen()"
    );
    assert_eq!(s.settings().listen.buffers, Buffers::default(), "unchanged");
    s.stop();
    s.configure(|c| c.listen.buffers = b).unwrap();
}
