//! What a return must prove: a guessed, replayed or old secret, or a count the client
//! cannot have, is turned away (4002) and the live session notices nothing; the right
//! secret replaces the session's open connection, which is told (4001).

use std::time::Duration;

use super::common::session::{Gone, SessionClient, hello};
use super::common::*;
use super::{cut_and_wait_away, one_session, texts, with_grace};
use godot_websocket_server::core::{Event, Server};
use tokio_tungstenite::tungstenite::Message;

/// A return with a wrong secret is turned away (4002) and the session notices nothing;
/// the right secret while the old connection is open replaces it (the newer wins, the
/// old one is told: 4001), with a new secret in its welcome.
#[test]
fn a_guessed_secret_is_turned_away_and_the_right_one_replaces_the_old_socket() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (_relay, mut victim, id, mut log) = one_session(&rt, &mut server);
    assert_eq!(victim.welcome.session.len(), 32, "128 bits, in hex");
    let back = format!("{}?gws=2&gws_return={id}", url(&server));
    let guess = hello(&"0123456789abcdef".repeat(2), 0);
    let refused = rt.block_on(SessionClient::dial_with(&back, Some(guess)));
    assert_eq!(refused.err(), Some(Some(4002)), "turned away");
    echoes(&rt, &mut server, &mut victim, &mut log, "untouched");
    let (_newer, w) = rt
        .block_on(SessionClient::dial_with(
            &back,
            Some(hello(&victim.welcome.session, 1)),
        ))
        .expect("resumed");
    assert!(w.resumed && w.id == id);
    assert_ne!(
        w.session, victim.welcome.session,
        "a new secret at every return"
    );
    assert_eq!(
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), victim.recv()).await })
            .unwrap(),
        Err(Gone::Closed(4001)),
        "the older socket is told it was replaced, then closed"
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
    assert_eq!(connected_ids(&log), [id], "no other peer");
}

/// Echoes one message through `c` (the server echoes what its peer sent): the session
/// works, and its peer was neither away nor gone meanwhile.
fn echoes(
    rt: &tokio::runtime::Runtime,
    server: &mut Server,
    c: &mut SessionClient,
    log: &mut Vec<Event>,
    text: &str,
) {
    let id = c.id();
    let before = log.len();
    rt.block_on(c.send(Message::text(text)));
    poll_until(server, log, 5, |l| {
        l[before..].contains(&Event::Message { id })
    });
    let peer = server.peer(id).unwrap();
    while let Some(m) = peer.recv() {
        peer.send(m.data, m.is_text).unwrap();
    }
    assert_eq!(texts(rt, c, 1), [text]);
    assert!(
        !log[before..]
            .iter()
            .any(|e| matches!(e, Event::Away { .. } | Event::Disconnected { .. })),
        "{:?}",
        &log[before..]
    );
}

/// What a leaked return cannot do: a replayed old return, the old secret with every
/// count, and the current secret with counts the client cannot have are all turned away
/// (4002), and the live session goes on as if nothing happened.
#[test]
fn replayed_and_out_of_step_returns_leave_the_live_session_untouched() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    echoes(&rt, &mut server, &mut c, &mut log, "one");
    echoes(&rt, &mut server, &mut c, &mut log, "two");
    // A return, as the client makes it: the secret it used is replaced.
    let old = (c.welcome.session.clone(), c.received());
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    rt.block_on(c.reconnect()).expect("resumed");
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
    echoes(&rt, &mut server, &mut c, &mut log, "three");
    let back = format!("{}?gws=2&gws_return={id}", url(&server));
    let current = c.welcome.session.clone();
    // The old secret with the count it came back with, then with every count there is
    // so far; the current one with fewer than the client acknowledged at its return (2)
    // or more than the server wrote (all the client received).
    let n = c.received();
    let mut tries = vec![(old.0.as_str(), old.1)];
    tries.extend((0..=n + 2).map(|k| (old.0.as_str(), k)));
    tries.extend([1, 1 << 20, u64::MAX].map(|k| (current.as_str(), k)));
    for (i, (secret, count)) in tries.into_iter().enumerate() {
        let attempt = hello(secret, count);
        let refused = rt.block_on(SessionClient::dial_with(&back, Some(attempt)));
        assert_eq!(refused.err(), Some(Some(4002)), "try {i}: count {count}");
        echoes(
            &rt,
            &mut server,
            &mut c,
            &mut log,
            &format!("after try {i}"),
        );
        // The current secret, one more than the client has now.
        let next = hello(&current, c.received() + 1);
        let refused = rt.block_on(SessionClient::dial_with(&back, Some(next)));
        assert_eq!(refused.err(), Some(Some(4002)), "try {i}: one ahead");
    }
    assert_eq!(connected_ids(&log), [id], "never another peer");
}
