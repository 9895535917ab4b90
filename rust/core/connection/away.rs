//! A session's peer through broken connections: away when the network fails it, back
//! when its client returns within the grace period (the same peer, the messages it
//! missed written again first), over when the grace runs out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::{RunEnd, Ws, run, websocket};
use crate::core::peer::{PeerShared, ReadyState};
use crate::core::resume::wire::{self, Welcome};
use crate::core::resume::{Resumable, Returning};
use crate::core::session::{RawEvent, Session, stopped};

/// How long a session waits before acknowledging fewer than a batch of messages.
const ACK_DELAY: Duration = Duration::from_millis(100);

/// The welcome for `peer`'s client: its session, or none when `grace` is zero.
pub(super) fn welcome(peer: &PeerShared, grace: Duration, resumed: bool) -> Bytes {
    let session = peer.resumable.as_ref();
    wire::welcome(&Welcome {
        id: peer.id,
        token: session.map(|s| s.token),
        grace: if session.is_some() {
            grace
        } else {
            Duration::ZERO
        },
        resumed,
        received: session.map_or(0, |s| s.ack_now()),
    })
}

/// Serves a session's peer over its connections until the session ends; whether it
/// ended with a clean close.
pub(super) async fn serve_session(
    mut ws: Ws,
    peer: &Arc<PeerShared>,
    state: &Resumable,
    session: &Session,
    mut shutdown: watch::Receiver<bool>,
) -> bool {
    loop {
        let mut back = match run(ws, peer, session).await {
            RunEnd::Closed(clean) => return clean,
            RunEnd::Broken if peer.state() != ReadyState::Open || *shutdown.borrow() => {
                return false;
            }
            RunEnd::Broken => None,
            RunEnd::Replaced => state.take_returning(),
        };
        state.set_away(true);
        session.push(RawEvent::Away(peer.clone()));
        let lending = Lending::start(session);
        let deadline = Instant::now() + session.settings.reconnect_grace();
        ws = loop {
            let returning = match back.take() {
                Some(returning) => returning,
                None => match wait_for_return(peer, state, deadline, &mut shutdown).await {
                    Some(returning) => returning,
                    None => return false,
                },
            };
            match reopen(returning, peer, state, session).await {
                Reopened::Yes(ws) => break *ws,
                Reopened::Broken => {}
                Reopened::OutOfStep => return false,
            }
        };
        drop(lending);
        state.set_away(false);
        session.push(RawEvent::Back(peer.clone()));
    }
}

/// While a peer is away, its slot under the connection limits is lent to a connection
/// that may be its return (which would otherwise be over the limit the peer helps fill).
struct Lending<'a>(&'a Session);

impl<'a> Lending<'a> {
    fn start(session: &'a Session) -> Self {
        session.limits.set_away(true);
        Lending(session)
    }
}

impl Drop for Lending<'_> {
    fn drop(&mut self) {
        self.0.limits.set_away(false);
    }
}

/// The next returning connection, or `None` once the grace ran out, the game closed the
/// peer, or the server stopped.
async fn wait_for_return(
    peer: &PeerShared,
    state: &Resumable,
    deadline: Instant,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Returning> {
    loop {
        if peer.state() != ReadyState::Open {
            return None;
        }
        if let Some(returning) = state.take_returning() {
            return Some(returning);
        }
        tokio::select! {
            _ = state.returned() => {}
            _ = sleep_until(deadline) => return None,
            _ = peer.kill.notified() => return None,
            _ = peer.close_started.notified() => return None,
            _ = stopped(shutdown) => return None,
        }
    }
}

enum Reopened {
    Yes(Box<Ws>),
    /// The new connection failed before it was ready: wait for another.
    Broken,
    /// The client claims messages it cannot have: the session ends.
    OutOfStep,
}

/// Takes a returning connection over: the welcome with what the server has received,
/// then every message the client has not received, in order.
async fn reopen(
    returning: Returning,
    peer: &PeerShared,
    state: &Resumable,
    session: &Session,
) -> Reopened {
    let Returning {
        stream,
        leftover,
        remote,
        received,
        deflate,
    } = returning;
    peer.set_deflate(deflate);
    let mut ws = websocket(stream, leftover, deflate, session).await;
    let Some(missed) = state.unreceived(received) else {
        let frame = CloseFrame {
            code: 1008.into(),
            reason: "session out of step".into(),
        };
        let _ = timeout(session.close_timeout, ws.close(Some(frame))).await;
        return Reopened::OutOfStep;
    };
    // What the client has is acknowledged.
    if let Some((packets, bytes)) = state.acknowledged(received) {
        peer.sent(packets, bytes);
    }
    let grace = session.settings.reconnect_grace();
    let written = timeout(session.handshake_timeout, async {
        ws.feed(WsMessage::Binary(welcome(peer, grace, true)))
            .await?;
        for (data, is_text) in missed {
            let msg = match is_text {
                true => WsMessage::Text(data.try_into().expect("text checked when queued")),
                false => WsMessage::Binary(data),
            };
            ws.feed(msg).await?;
        }
        ws.flush().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return Reopened::Broken;
    }
    peer.set_remote(remote);
    peer.touch();
    Reopened::Yes(Box::new(ws))
}

/// What a session's connection task is told while it runs.
pub(super) enum Moment {
    /// The client came back on another connection, which replaces this one.
    Returned,
    /// Messages received wait for their acknowledgement.
    AckDue,
}

/// The next [`Moment`] of a session's peer; never for a plain peer. Boxed, so that a plain
/// peer's connection task does not carry a session's timers.
pub(super) async fn moment(peer: &PeerShared) -> Moment {
    match &peer.resumable {
        Some(state) => Box::pin(next_moment(state)).await,
        None => std::future::pending().await,
    }
}

async fn next_moment(state: &Resumable) -> Moment {
    tokio::select! {
        _ = state.returned() => Moment::Returned,
        _ = ack_due(state) => Moment::AckDue,
    }
}

/// Resolves when messages received wait for their acknowledgement and [`ACK_DELAY`] passed.
async fn ack_due(state: &Resumable) {
    if state.unacknowledged() == 0 {
        state.ack_wanted.notified().await;
    }
    sleep(ACK_DELAY).await;
}
