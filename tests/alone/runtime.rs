//! The process-wide runtime: shutting it down (as the library does before it is
//! unloaded) closes every connection with 1001 (going away), joins its threads; the next
//! listen() starts a new one. In its own test binary because the runtime is global.

use crate::alone;
use crate::common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use godot_websocket_server::core::{Event, runtime};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn shutdown_joins_threads_and_a_new_listen_starts_again() {
    let _alone = alone();
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    assert!(runtime::is_running());
    let threads_before = thread_count();
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());

    runtime::shutdown();
    assert!(!runtime::is_running());
    // The client was told the server is going away, then the connection ended; the
    // server reports a disconnect.
    let close = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), c.next()).await });
    match close {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame with 1001, got {other:?}"),
    }
    let end = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), c.next()).await });
    assert!(
        matches!(end, Ok(None) | Ok(Some(Err(_)))),
        "client still connected: {end:?}"
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let workers = runtime::worker_threads();
    assert!(
        thread_count() + workers <= threads_before,
        "worker threads not joined: {threads_before} before, {} after",
        thread_count()
    );

    server.stop();
    server
        .listen(0, &[], false)
        .expect("listen after a runtime shutdown starts a new runtime");
    assert!(runtime::is_running());
    let _c2 = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log2 = Vec::new();
    poll_until(&mut server, &mut log2, 5, |l| !connected_ids(l).is_empty());
}

/// Threads of this process (Linux).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}
