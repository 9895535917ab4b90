//! Sends written by the caller's thread (`set_caller_writes`, off by default): a switch
//! for the whole process, so this test is here, alone.

use std::time::{Duration, Instant};

use crate::alone;
use crate::common;
use common::*;
use godot_websocket_server::core::{Event, Server};

fn mixed_size(seq: u64) -> usize {
    (seq.wrapping_mul(2_654_435_761) % 200_000) as usize + 8
}

fn mixed_message(seq: u64) -> Vec<u8> {
    let mut m: Vec<u8> = (0..mixed_size(seq))
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect();
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// A send to an idle plain connection is written straight to its socket by the caller's
/// thread (when turned on), a broadcast by the fan-out; everything else by the connection
/// task (sends and broadcasts behind them, the heartbeat's pings, pongs to the client's
/// pings). A client with a small receive buffer that pauses, so that writes stop
/// mid-frame, gets every message whole and in order.
#[test]
fn direct_and_queued_writes_never_split_a_frame() {
    let _alone = alone();
    // Sends written by this thread too (off by default; see core::fanout::caller_writes).
    godot_websocket_server::core::set_caller_writes(true);
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 64 * 1024, 4096))
            .unwrap();
        s.configure(|c| c.connections.heartbeat_interval = Duration::from_millis(50))
            .unwrap();
    });
    let port = server.local_port();
    const COUNT: u64 = 300;
    let rt = client_runtime();
    let reader = rt.spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(8 * 1024).unwrap();
        let tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let pinger = tokio::spawn(async move {
            for i in 0u32.. {
                if sink
                    .send(Message::Ping(i.to_le_bytes().to_vec().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let (mut next, mut pings) = (0u64, 0u32);
        while next < COUNT {
            match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let want = mixed_message(next);
                    let differs = b.iter().zip(&want).position(|(x, y)| x != y);
                    assert!(
                        b.len() == want.len() && differs.is_none(),
                        "message {next}: {} bytes, {} expected, first difference at {differs:?}",
                        b.len(),
                        want.len()
                    );
                    next += 1;
                    if next % 3 == 0 {
                        // Stop reading a while: the server's writes stop mid-frame.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                Ok(Some(Ok(_))) => {}
                other => panic!("after {next} messages: {other:?}"),
            }
        }
        pinger.abort();
        (next, pings)
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    let peer = server.peer(connected_ids(&log)[0]).unwrap().clone();
    let wait_idle = |server: &mut Server, log: &mut Vec<Event>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while peer.buffered_amount() > 0 {
            assert!(Instant::now() < deadline, "queue never drained");
            poll_for(server, log, 1);
        }
    };
    for seq in 0..COUNT {
        let m = mixed_message(seq);
        match seq % 4 {
            // Nothing queued: the send is written by this thread, mostly in part.
            0 => {
                wait_idle(&mut server, &mut log);
                peer.send(m.into(), false).unwrap();
            }
            // Right behind it: queued for the connection task.
            1 => server.broadcast(&m, false, &[]).unwrap(),
            2 => peer.send(m.into(), false).unwrap(),
            // Nothing queued: the broadcast is written by the send task, mostly in part.
            _ => {
                wait_idle(&mut server, &mut log);
                server.broadcast(&m, false, &[]).unwrap();
            }
        }
        poll_for(&mut server, &mut log, 0);
    }
    let (got, pings) = rt.block_on(reader).unwrap();
    assert_eq!(got, COUNT);
    assert!(pings > 0, "the heartbeat's pings came in between");
    assert_eq!(
        count(&log, |e| matches!(e, Event::BroadcastMissed(_))),
        0,
        "nothing missed"
    );
    println!("{got} messages of 8 B to 200 KB whole and in order, {pings} pings in between");
}
