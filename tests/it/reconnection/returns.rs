//! Returns in quick succession: the newer connection wins whichever order the server
//! sees the old connection's end and the new one's arrival in.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::common::relay::Relay;
use super::common::session::Gone;
use super::common::*;
use super::{Rng, one_session, with_grace};
use godot_websocket_server::core::Event;

/// A client comes back 250 times, through two relays in turn: half the time its old
/// connection is reset (both ways) and it returns within 0-5 ms (every other time within
/// 0.5 ms, so that the server sees the reset and the return in either order); half the time it returns while the old
/// connection still stands, which is reset only after it was replaced. The newer
/// connection wins each time: every return holds (a round trip through it), the replaced
/// connection is told (4001), one away and one back per return, never a new peer.
#[test]
fn a_return_holds_whether_the_old_connection_ends_before_or_after_it() {
    const RETURNS: u64 = 250;
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (first, mut c, id, mut log) = one_session(&rt, &mut server);
    let second = rt.block_on(Relay::start(server.local_port()));
    let client = rt.spawn(async move {
        let mut relays = [first, second];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut closed_after_welcome, mut told) = (0, 0);
        for i in 0..RETURNS {
            let mut old = if i % 2 == 0 {
                relays[0].cut();
                // Within 0.5 ms (the server sees the two in either order) or 0.5-5 ms.
                let wait = match i % 4 {
                    0 => rng.below(500),
                    _ => 500 + rng.below(4500),
                };
                tokio::time::sleep(Duration::from_micros(wait)).await;
                None
            } else {
                c.detach()
            };
            c.set_url(&relays[1].url());
            loop {
                let w = c.reconnect().await.expect("resumed");
                assert_eq!(w.id, id, "the same peer");
                if let Some(mut old) = old.take() {
                    // Replaced: the old connection is told (after what was on its way,
                    // an acknowledgement perhaps), then reset late.
                    while let Ok(Some(Ok(frame))) =
                        tokio::time::timeout(Duration::from_secs(5), old.next()).await
                    {
                        if let Message::Close(close) = frame {
                            told += usize::from(close.is_some_and(|f| u16::from(f.code) == 4001));
                            break;
                        }
                    }
                    relays[0].cut();
                }
                c.send(Message::text(format!("m{i}"))).await;
                match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
                    Ok(Ok(m)) => break assert_eq!(m, Message::text(format!("m{i}"))),
                    Ok(Err(Gone::Broken)) => closed_after_welcome += 1,
                    other => panic!("return {i}: {other:?}"),
                }
            }
            relays.swap(0, 1);
        }
        c.close().await;
        (closed_after_welcome, told)
    });
    let started = Instant::now();
    let mut batch = Vec::new();
    while !client.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still returning"
        );
        server.wait(Duration::from_millis(5));
        server.poll(&mut batch);
        for e in &batch {
            if let Event::Message { id } = e {
                let peer = server.peer(*id).unwrap();
                while let Some(m) = peer.recv() {
                    peer.send(m.data, m.is_text).unwrap();
                }
            }
        }
        log.append(&mut batch);
    }
    let (closed_after_welcome, told) = rt.block_on(client).unwrap();
    let away = count(&log, |e| matches!(e, Event::Away { .. }));
    let back = count(&log, |e| matches!(e, Event::Back { .. }));
    println!(
        "{RETURNS} returns: {away} away, {back} back, {told} replaced connections told, {closed_after_welcome} returns closed by the server"
    );
    assert_eq!(
        closed_after_welcome, 0,
        "returns closed right after their welcome"
    );
    assert_eq!(
        told,
        RETURNS as usize / 2,
        "replaced connections told (4001)"
    );
    assert_eq!((away, back), (RETURNS as usize, RETURNS as usize));
    assert_eq!(connected_ids(&log), [id], "never a new peer");
}

/// A connection is replaced while the server has not read all its client sent (its
/// reader waits for the game, which has not polled): closing a socket with unread data
/// resets it, and the reset can destroy the close frame before the client reads it. The
/// replaced connection still gets its close frame (4001): the server reads to the end
/// before it closes.
#[test]
fn a_replaced_connection_with_unread_data_still_gets_its_close_frame() {
    let rt = client_runtime();
    for round in 0..20 {
        let mut server = listening(&[], |s| {
            s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(10))
                .unwrap();
            s.configure(|c| c.listen.buffers = crate::common::buffers(64, 4, 64, 1024))
                .unwrap();
        });
        let (_relay, mut c, id, _log) = one_session(&rt, &mut server);
        // More than the inbound limit, and nobody polls: most of it stays unread.
        for i in 0..200 {
            rt.block_on(c.send(Message::binary(vec![i as u8 + 1; 1024])));
        }
        let mut old = c.detach().expect("a connection");
        let w = rt.block_on(c.reconnect()).expect("resumed");
        assert_eq!(w.id, id);
        let close = rt.block_on(async {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), old.next()).await {
                    Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                    Ok(Some(Ok(_))) => continue,
                    other => panic!("round {round}: no close frame: {other:?}"),
                }
            }
        });
        assert_eq!(close, Some(4001), "round {round}");
    }
}
