//! One connection's life with real clients: message sizes up to the inbound limit, clean
//! and unclean ends, bad UTF-8, and backpressure when the game does not read.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Error, Event, ReadyState, SendError};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn message_sizes_up_to_the_inbound_limit_and_1009_beyond() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 128, 1024))
            .unwrap()
    });
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let sizes = [1usize, 2, 125, 126, 127, 65535, 65536];
    let mut log = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        rt.block_on(c.send(Message::binary(payload.clone())))
            .unwrap();
        echo_until(&mut server, &mut log, 5, |l| {
            count(l, |e| matches!(e, Event::Message { .. })) == i + 1
        });
        let back = rt.block_on(c.next()).unwrap().unwrap();
        assert_eq!(back.into_data().as_ref(), &payload[..], "{n} bytes");
    }
    // One byte over the inbound limit: the server closes with 1009.
    rt.block_on(c.send(Message::binary(vec![1u8; 65537])))
        .unwrap();
    let close = rt.block_on(next_close(&mut c));
    assert_eq!(close.unwrap().code, CloseCode::Size);
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(log.contains(&Event::Disconnected {
        id: connected_ids(&log)[0],
        was_clean: false
    }));
}

#[test]
fn clean_close_started_by_the_client() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let (mut c, mut log, peer) = one_client(&rt, &mut server);
    let id = peer.id();
    let reply = rt.block_on(async {
        c.close(Some(CloseFrame {
            code: CloseCode::Library(4001),
            reason: "bye now".into(),
        }))
        .await
        .unwrap();
        next_close(&mut c).await
    });
    assert_eq!(reply.unwrap().code, CloseCode::Library(4001));
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let tail: Vec<_> = log.iter().skip(1).cloned().collect();
    assert_eq!(
        tail,
        [
            Event::CloseRequested {
                id,
                code: 4001,
                reason: "bye now".into()
            },
            Event::Disconnected {
                id,
                was_clean: true
            }
        ]
    );
    assert!(!server.has_peer(id));
    assert_eq!(peer.ready_state(), ReadyState::Closed);
    assert_eq!(peer.close_code(), 4001);
    assert_eq!(peer.close_reason(), "bye now");
}

#[test]
fn clean_close_started_by_the_server() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let (mut c, mut log, peer) = one_client(&rt, &mut server);
    let id = peer.id();
    peer.send(Bytes::from_static(b"last words"), true).unwrap();
    server.disconnect_peer(id, 4002, "kicked").unwrap();
    assert_eq!(peer.ready_state(), ReadyState::Closing);
    assert_eq!(
        peer.send(Bytes::from_static(b"x"), true),
        Err(SendError::Closed)
    );
    let (msgs, close) = rt.block_on(async {
        let mut msgs = Vec::new();
        loop {
            match c.next().await {
                Some(Ok(Message::Close(f))) => {
                    // Keep reading so that tungstenite sends its reply.
                    while let Some(Ok(_)) = c.next().await {}
                    break (msgs, f);
                }
                Some(Ok(m)) => msgs.push(m),
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    });
    assert_eq!(
        msgs,
        [Message::text("last words")],
        "queued messages go out before the close frame"
    );
    let close = close.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::Library(4002), "kicked")
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        log.last().unwrap(),
        &Event::Disconnected {
            id,
            was_clean: true
        }
    );
    assert!(matches!(
        server.disconnect_peer(id, 1000, ""),
        Err(Error::UnknownPeer(_))
    ));
    assert!(
        peer.close(999, "").is_err(),
        "invalid close codes are refused"
    );
}

#[test]
fn abrupt_disconnect_is_unclean() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    drop(c); // TCP closed without a close frame
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        log.last().unwrap(),
        &Event::Disconnected {
            id: connected_ids(&log)[0],
            was_clean: false
        }
    );
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let bad = Frame::message(vec![0x68, 0x69, 0xff, 0xfe], OpCode::Data(Data::Text), true);
    rt.block_on(c.send(Message::Frame(bad))).unwrap();
    let close = rt.block_on(next_close(&mut c));
    assert_eq!(close.unwrap().code, CloseCode::Invalid);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        count(&log, |e| matches!(e, Event::Message { .. })),
        0,
        "the bad message is not delivered"
    );
}

#[test]
fn inbound_backpressure_loses_nothing_when_nobody_polls() {
    const COUNT: u32 = 20_000;
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let progress = Arc::new(AtomicUsize::new(0));
    let u = url(&server);
    let p2 = progress.clone();
    let client = rt.spawn(async move {
        let mut c = connect(&u, &[]).await.unwrap();
        for i in 0..COUNT {
            let mut m = i.to_le_bytes().to_vec();
            m.resize(1024, 0);
            c.send(Message::binary(m)).await.unwrap();
            p2.store(i as usize + 1, Ordering::SeqCst);
        }
        c
    });
    // Nobody polls for a second: the server stops reading, so the client blocks.
    std::thread::sleep(Duration::from_secs(1));
    let stalled_at = progress.load(Ordering::SeqCst);
    assert!(
        stalled_at < COUNT as usize,
        "the client sent all {COUNT} messages (20 MB) while nobody read: no backpressure"
    );
    let mut batch = Vec::new();
    let mut next = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < COUNT {
        assert!(Instant::now() < deadline, "received {next} of {COUNT}");
        server.wait(Duration::from_millis(10));
        server.poll(&mut batch);
        for e in batch.drain(..) {
            if let Event::Message { id } = e {
                let p = server.peer(id).unwrap();
                while let Some(m) = p.recv() {
                    assert_eq!(u32::from_le_bytes(m.data[..4].try_into().unwrap()), next);
                    next += 1;
                }
            }
        }
    }
    drop(rt.block_on(client).unwrap());
    println!(
        "client stalled at {stalled_at} of {COUNT} messages while nobody polled; all {COUNT} arrived in order"
    );
}
