//! A session's peer through broken connections: away when the network fails it, back
//! when its client returns within the grace period (the same peer, the messages it
//! missed written again first), over when the grace runs out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{RunEnd, Ws, goodbye, run};
use crate::core::peer::{PeerShared, ReadyState};
use crate::core::server_shared::{RawEvent, ServerShared, stopped};
use crate::core::session::wire::{self, Welcome};
use crate::core::session::{Returning, Session};

/// How long a session waits before acknowledging fewer than a batch of messages.
const ACK_DELAY: Duration = Duration::from_millis(100);
/// How often a session's connection carries the server's keepalive when the heartbeat is
/// off (with it on, every `heartbeat_interval`).
const KEEPALIVE: Duration = Duration::from_secs(5);

/// How often the server sends its keepalive on a session's connection.
pub(super) fn keepalive(shared: &ServerShared) -> Duration {
    match shared.settings().connections.heartbeat_interval {
        d if d.is_zero() => KEEPALIVE,
        d => d,
    }
}

/// The welcome for `peer`'s client: its session, or none when `grace` is zero.
pub(super) fn welcome(peer: &PeerShared, shared: &ServerShared, resumed: bool) -> Bytes {
    let state = peer.session();
    wire::welcome(&Welcome {
        id: peer.id(),
        token: state.map(|s| s.token()),
        grace: match state {
            Some(_) => shared.settings().connections.reconnect_grace_period,
            None => Duration::ZERO,
        },
        resumed,
        received: state.map_or(0, |s| s.ack_now()),
        keepalive: match state {
            Some(_) => keepalive(shared),
            None => Duration::ZERO,
        },
    })
}

/// A connection that claims to return as a session's peer (`state`): its first frame,
/// within the handshake's `deadline`, must be a hello with the session's secret; the
/// peer's task then takes it over. Anything else is closed with `CLOSE_NOT_RESUMED`,
/// and the session is untouched. Whether the connection was taken over.
pub(super) async fn come_back(
    mut ws: Ws,
    remote: std::net::SocketAddr,
    deflate: Option<crate::core::compression::Agreed>,
    state: &Session,
    shared: &ServerShared,
    deadline: Instant,
) -> bool {
    let hello = match timeout_at(deadline, ws.next()).await {
        Ok(Some(Ok(WsMessage::Binary(data)))) => wire::hello(&data, false),
        _ => None,
    };
    let refused = match hello {
        // A count the client cannot have turns it away before the live connection is
        // replaced.
        Some((token, received)) if state.proves(&token) && state.in_step(received) => {
            let back = Returning {
                ws: Box::new(ws),
                remote,
                received,
                deflate,
                token,
                deadline,
            };
            match state.hand_over(back) {
                Ok(()) => return true,
                // The session ended meanwhile.
                Err(back) => *back.ws,
            }
        }
        _ => ws,
    };
    not_resumed(refused, shared, "this session cannot be resumed").await;
    false
}

/// Turns a return away: a close frame with `CLOSE_NOT_RESUMED`, then the end.
async fn not_resumed(ws: Ws, shared: &ServerShared, reason: &str) {
    let close_timeout = shared.settings().connections.close_timeout;
    goodbye(ws, wire::CLOSE_NOT_RESUMED, reason, close_timeout).await;
}

/// Serves a session's peer over its connections until the session ends; whether it
/// ended with a clean close.
pub(super) async fn serve_session(
    mut ws: Ws,
    peer: &Arc<PeerShared>,
    state: &Session,
    shared: &ServerShared,
    mut shutdown: watch::Receiver<bool>,
) -> bool {
    loop {
        let mut back = match run(ws, peer, shared).await {
            RunEnd::Closed(clean) => return clean,
            RunEnd::Broken if peer.state() != ReadyState::Open || *shutdown.borrow() => {
                return false;
            }
            RunEnd::Broken => None,
            RunEnd::Replaced => state.take_returning(),
        };
        state.set_away(true);
        shared.push(RawEvent::Away(peer.clone()));
        let lending = Lending::start(shared);
        let grace = shared.settings().connections.reconnect_grace_period;
        let deadline = Instant::now() + grace;
        ws = loop {
            let returning = match back.take() {
                Some(returning) => returning,
                None => match wait_for_return(peer, state, deadline, &mut shutdown).await {
                    Some(returning) => returning,
                    None => return false,
                },
            };
            match reopen(returning, peer, state, shared).await {
                Reopened::Yes(ws) => break *ws,
                Reopened::No => {}
            }
        };
        drop(lending);
        state.set_away(false);
        shared.push(RawEvent::Back(peer.clone()));
    }
}

/// While a peer is away, its slot under the connection limits is lent to a connection
/// that may be its return (which would otherwise be over the limit the peer helps fill).
struct Lending<'a>(&'a ServerShared);

impl<'a> Lending<'a> {
    fn start(shared: &'a ServerShared) -> Self {
        shared.limits.set_away(true);
        Lending(shared)
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
    state: &Session,
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
            _ = peer.killed() => return None,
            _ = peer.close_started() => return None,
            _ = stopped(shutdown) => return None,
        }
    }
}

enum Reopened {
    Yes(Box<Ws>),
    /// The new connection failed before it was ready, or claimed messages it cannot
    /// have (it was turned away): wait for another.
    No,
}

/// Takes a returning connection over: the welcome with a new secret and what the server
/// has received, then every message the client has not received, in order.
async fn reopen(
    returning: Returning,
    peer: &PeerShared,
    state: &Session,
    shared: &ServerShared,
) -> Reopened {
    let Returning {
        ws,
        remote,
        received,
        deflate,
        token,
        deadline,
    } = returning;
    let mut ws = *ws;
    let Some(missed) = state.unreceived(received) else {
        not_resumed(ws, shared, "the count of messages received is out of step").await;
        return Reopened::No;
    };
    peer.set_deflate(deflate);
    // What the client has is acknowledged.
    if let Some((packets, bytes)) = state.acknowledged(received) {
        peer.sent(packets, bytes);
    }
    state.renew(token);
    let written = timeout_at(deadline, async {
        ws.feed(WsMessage::Binary(welcome(peer, shared, true)))
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
        return Reopened::No;
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
    /// Time for the server's keepalive.
    Keepalive,
}

/// The next [`Moment`] of a session's peer, its keepalive due at `keepalive_at`; never
/// for a plain peer. Boxed, so that a plain peer's connection task does not carry a
/// session's timers.
pub(super) async fn moment(peer: &PeerShared, keepalive_at: Instant) -> Moment {
    match peer.session() {
        Some(state) => Box::pin(next_moment(state, keepalive_at)).await,
        None => std::future::pending().await,
    }
}

async fn next_moment(state: &Session, keepalive_at: Instant) -> Moment {
    tokio::select! {
        _ = state.returned() => Moment::Returned,
        _ = ack_due(state) => Moment::AckDue,
        _ = sleep_until(keepalive_at) => Moment::Keepalive,
    }
}

/// Resolves when messages received wait for their acknowledgement and [`ACK_DELAY`] passed.
async fn ack_due(state: &Session) {
    if state.unacknowledged() == 0 {
        state.ack_wanted.notified().await;
    }
    sleep(ACK_DELAY).await;
}
