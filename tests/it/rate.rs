//! Per-client rate limits with a real flooding client.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::Event;
use tokio_tungstenite::tungstenite::Message;

#[test]
fn a_flooding_client_is_held_to_its_rate_and_loses_nothing() {
    let rt = client_runtime();
    let rate = 200u64;
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.max_messages_per_second = rate)
            .unwrap()
    });
    let u = url(&server);
    // A well-behaved client measures its round trips meanwhile.
    let calm = {
        let u = u.clone();
        rt.spawn(async move {
            let (mut c, _) = connect_with(&u, &[]).await.unwrap();
            let mut rtts = Vec::new();
            for i in 0..40 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let t = Instant::now();
                c.send(Message::text(format!("calm {i}"))).await.unwrap();
                c.next().await.unwrap().unwrap();
                rtts.push(t.elapsed());
            }
            rtts.sort();
            rtts[rtts.len() / 2]
        })
    };
    let flood = {
        let u = u.clone();
        rt.spawn(async move {
            let (mut c, _) = connect_with(&u, &[]).await.unwrap();
            let mut n = 0u32;
            let stop = Instant::now() + Duration::from_secs(3);
            while Instant::now() < stop {
                let sent = tokio::time::timeout(
                    Duration::from_millis(20),
                    c.send(Message::binary(n.to_le_bytes().to_vec())),
                )
                .await;
                if sent.is_ok() {
                    n += 1;
                }
            }
            (c, n)
        })
    };
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
    // Echo the calm client; count the flood's messages per second while it floods.
    let mut flood_got: Vec<u32> = Vec::new();
    let mut first_at = None;
    let started = Instant::now();
    while !(calm.is_finished() && flood.is_finished()) || started.elapsed() < Duration::from_secs(4)
    {
        assert!(started.elapsed() < Duration::from_secs(30));
        let mut batch = Vec::new();
        server.wait(Duration::from_millis(5));
        server.poll(&mut batch);
        for e in &batch {
            if let Event::Message { id } = e {
                let p = server.peer(*id).unwrap();
                while let Some(m) = p.recv() {
                    if m.is_text {
                        p.send(m.data, true).unwrap();
                    } else {
                        first_at.get_or_insert_with(Instant::now);
                        flood_got.push(u32::from_le_bytes(m.data[..].try_into().unwrap()));
                    }
                }
            }
        }
        if calm.is_finished() && flood.is_finished() && started.elapsed() >= Duration::from_secs(4)
        {
            break;
        }
    }
    let calm_p50 = rt.block_on(calm).unwrap();
    let (_client, _) = rt.block_on(flood).unwrap();
    // The first second's worth comes at once (the bucket); then the rate.
    let elapsed = first_at.unwrap().elapsed().as_secs_f64();
    let measured = (flood_got.len() as f64 - rate as f64) / elapsed;
    println!(
        "rate limit {rate}/s: the flooder got {} messages through in {elapsed:.2} s: {measured:.0}/s after the first second's burst; the calm client's median round trip {calm_p50:?}",
        flood_got.len()
    );
    assert!(
        (measured - rate as f64).abs() <= rate as f64 * 0.1,
        "{measured}"
    );
    assert_eq!(
        flood_got,
        (0..flood_got.len() as u32).collect::<Vec<_>>(),
        "in order, none lost"
    );
    assert!(calm_p50 < Duration::from_millis(20), "{calm_p50:?}");
}
