//! The task that owns one connection: TLS, upgrade, then reading and writing until it
//! is closed. It reports to the server's shared state and never touches the caller's
//! thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::OptionFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

mod heartbeat;
mod reader;
mod resuming;
mod writer;

use crate::core::compression::Agreed;
use crate::core::multiplayer;
use crate::core::observability::stats::Refused;
use crate::core::peer::{Command, Peer, PeerShared, ReadyState, ServerParts};
use crate::core::policy::limits::Slot;
use crate::core::policy::rate::RateLimiter;
use crate::core::runtime;
use crate::core::server_shared::{Departure, RawEvent, ServerShared, stopped};
use crate::core::session::{Session, wire};
use crate::core::socket::inflating::Inflating;
use crate::core::socket::stream::ServerStream;
use crate::core::upgrade::opening::{LINGER, Opened, linger, open};
use heartbeat::{Beat, Heartbeat};
use reader::read_loop;
use writer::{WriteEnd, write_loop};

pub(super) type Ws = WebSocketStream<Inflating>;

/// Read buffer per connection: small, so that idle connections stay cheap (larger
/// messages are read in several steps).
const READ_BUFFER: usize = 2048;
/// Frames are gathered up to this size before a write; the buffer grows only when used.
const WRITE_BUFFER: usize = 16 * 1024;
/// How long a connection that broke the protocol waits for the caller to read what came
/// before and to send its replies.
const FAIL_GRACE: Duration = Duration::from_millis(500);

/// Serves one accepted TCP connection to its end; it holds `slot` under the connection
/// limits until then.
pub(crate) async fn serve(
    tcp: TcpStream,
    remote: SocketAddr,
    shared: Arc<ServerShared>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let mut slot = slot;
    let _live = runtime::LiveConnection::new();
    let _ = tcp.set_nodelay(true);
    let (handshake_timeout, grace) = {
        let settings = shared.settings();
        if shared.multiplayer {
            // Unreliable packets can only be dropped for a slow client if its backlog is ours.
            let threshold = settings.live.unreliable_drop_threshold;
            crate::core::socket::unsent::limit_unsent(&tcp, threshold);
        }
        let opening = &settings.connections;
        (opening.handshake_timeout, opening.reconnect_grace_period)
    };
    // The whole opening, up to the first message written, within handshake_timeout.
    let deadline = tokio::time::Instant::now() + handshake_timeout;
    let opened = tokio::select! {
        // Boxed: the handshake's state is freed once the connection is open.
        r = Box::pin(open(tcp, remote, &shared, deadline, &mut slot)) => r,
        _ = stopped(&mut shutdown) => return,
    };
    let Opened {
        stream,
        request,
        leftover,
        id,
        remote,
        asked,
        ask,
        returning,
        deflate,
    } = match opened {
        Ok(opened) => opened,
        // Timed out, refused or failed: never a peer.
        Err(why) => {
            if let Some(why) = why {
                shared.counters.refused(why);
            }
            return;
        }
    };
    // A client coming back to its session: once its hello proves it, its peer's task
    // takes the connection over; else it is turned away and the session is untouched.
    if let Some((_, state)) = returning {
        let ws = websocket(stream, leftover, deflate, &shared).await;
        let back = resuming::come_back(ws, remote, deflate, &state, &shared, deadline).await;
        if asked {
            shared.push(RawEvent::UpgradeEnded(id));
        }
        if !back {
            shared.counters.refused(Refused::BadRequest);
        }
        return;
    }
    let session = (ask.is_some() && !grace.is_zero()).then(|| shared.sessions.open(id));
    let secure = matches!(stream, ServerStream::Tls(_));
    // A session's connection changes: its messages go through its task only.
    let (stream, direct) = match session {
        Some(_) => (stream, None),
        None => stream.share(),
    };
    let peer = Arc::new(PeerShared::new(
        id,
        remote,
        request,
        secure,
        direct,
        ServerParts {
            limits: shared.buffers,
            session: session.clone(),
            counters: shared.counters.clone(),
            queue: shared.fanout.clone(),
        },
    ));
    let registered = session
        .as_ref()
        .map(|state| Registered(&shared, &peer, state));
    peer.set_deflate(deflate);
    let mut ws = websocket(stream, leftover, deflate, &shared).await;
    let first = if shared.multiplayer {
        Some(Bytes::copy_from_slice(&multiplayer::id_message(id)))
    } else {
        ask.map(|_| resuming::welcome(&peer, &shared, false))
    };
    if let Some(first) = first
        && timeout_at(deadline, ws.send(WsMessage::Binary(first)))
            .await
            .map_or(true, |r| r.is_err())
    {
        if asked {
            shared.push(RawEvent::UpgradeEnded(id));
        }
        return shared.counters.refused(Refused::BadRequest);
    }
    shared.counters.accepted();
    shared.fanout.joined(&peer);
    let mut guard = Disconnect {
        shared: &shared,
        peer: peer.clone(),
        clean: false,
    };
    shared.push(RawEvent::Connected(peer.clone()));
    // The server stopping closes every joined peer (`Fanout::close_all`); one that joined
    // just after that sees the signal here.
    if *shutdown.borrow() {
        let _ = Peer(peer.clone()).close(1001, "");
    }
    guard.clean = match &session {
        None => {
            drop(shutdown);
            run(ws, &peer, &shared).await == RunEnd::Closed(true)
        }
        // Boxed: a plain peer's task must not carry a session's larger state.
        Some(state) => Box::pin(resuming::serve_session(ws, &peer, state, &shared, shutdown)).await,
    };
    // The secret opens nothing before the end is reported.
    drop(registered);
}

/// The WebSocket over an upgraded stream, with the server's limits, inflating
/// compressed messages when permessage-deflate was agreed.
async fn websocket(
    stream: ServerStream,
    leftover: Vec<u8>,
    deflate: Option<Agreed>,
    shared: &ServerShared,
) -> Ws {
    let limit = shared.buffers.in_bytes;
    let (stream, leftover) = Inflating::new(stream, leftover, deflate.is_some(), limit);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(shared.buffers.in_bytes))
        .max_frame_size(Some(shared.buffers.in_bytes));
    WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config)).await
}

/// A session's secret opens nothing once its peer's task ends, and what it kept for
/// replay is no longer queued.
struct Registered<'a>(&'a ServerShared, &'a PeerShared, &'a Arc<Session>);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.sessions.close(self.2);
        let (packets, bytes) = self.2.forget();
        self.1.sent(packets, bytes);
    }
}

/// Ends a peer, however its task ends (even when dropped): counted, out of the fan-out's
/// peers and groups, and only then reported (with the groups it was in), so that a game
/// reading a group when it polls the `Disconnected` no longer finds the peer there.
struct Disconnect<'a> {
    shared: &'a ServerShared,
    peer: Arc<PeerShared>,
    clean: bool,
}

impl Drop for Disconnect<'_> {
    fn drop(&mut self) {
        self.shared.counters.left();
        let groups = self.shared.fanout.left(self.peer.id());
        self.peer.set_state(ReadyState::Closed);
        self.peer.end_commands();
        self.peer.wake_reader();
        self.shared.push(RawEvent::Disconnected(Departure {
            peer: self.peer.clone(),
            clean: self.clean,
            groups,
        }));
    }
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RunEnd {
    /// Closed: cleanly when both close frames were exchanged; by a close that did not
    /// complete, a kill, or a protocol failure otherwise.
    Closed(bool),
    /// The network failed it (reset, error, heartbeat): a session's client may return.
    Broken,
    /// A session's client came back on another connection, which replaces this one.
    Replaced,
}

/// How one round of reading and writing ended.
pub(super) enum Outcome {
    /// The connection is over; clean when both close frames were exchanged.
    Done(bool),
    /// Set TCP no-delay, then go on.
    NoDelay(bool),
    /// Fail the connection with this close code (protocol error, too big, bad UTF-8).
    Fail(u16, &'static str),
    /// The connection is over this way.
    Ended(RunEnd),
}

/// Reads and writes until the connection ends.
async fn run(mut ws: Ws, peer: &Arc<PeerShared>, shared: &ServerShared) -> RunEnd {
    let (close_timeout, mut heartbeat, mut limiter) = {
        let settings = shared.settings();
        let c = &settings.connections;
        (
            c.close_timeout,
            Heartbeat::new(c.heartbeat_interval, peer.opened()),
            RateLimiter::new(
                c.max_messages_per_second,
                c.max_bytes_per_second,
                Instant::now(),
            ),
        )
    };
    let close_timer = async {
        peer.close_started().await;
        sleep(close_timeout).await;
    };
    tokio::pin!(close_timer);
    let mut writer_done = false;
    let mut failing: Option<(u16, &'static str)> = None;
    // The wait before failing: made (and boxed) only then, as it is rare and large.
    let mut grace = None;
    // A session's keepalive (a plain peer never has one).
    let keepalive = resuming::keepalive(shared);
    let mut keepalive_at = Instant::now() + keepalive;
    loop {
        let (mut sink, mut stream) = ws.split();
        let outcome = {
            let reader = read_loop(&mut stream, peer, shared, &mut limiter);
            let writer = write_loop(&mut sink, peer);
            tokio::pin!(reader, writer);
            loop {
                tokio::select! {
                    end = &mut reader, if failing.is_none() => match end {
                        // Before failing the connection, give the caller a moment to
                        // read what came before the bad frame and to send its replies.
                        Outcome::Fail(code, reason) => {
                            failing = Some((code, reason));
                            grace = Some(Box::pin(drained(peer, FAIL_GRACE)));
                        }
                        Outcome::Done(false) => break Outcome::Ended(RunEnd::Broken),
                        other => break other,
                    },
                    _ = OptionFuture::from(grace.as_mut()), if grace.is_some() => {
                        let (code, reason) = failing.expect("guarded");
                        break Outcome::Fail(code, reason);
                    }
                    end = &mut writer, if !writer_done => match end {
                        WriteEnd::CloseSent => writer_done = true,
                        WriteEnd::NoDelay(on) => break Outcome::NoDelay(on),
                        // After the client's close frame nothing more may be sent:
                        // let the reader finish the handshake.
                        WriteEnd::Failed if peer.state() == ReadyState::Closing => writer_done = true,
                        WriteEnd::Failed => break Outcome::Ended(RunEnd::Broken),
                    },
                    _ = beat(&heartbeat, peer), if heartbeat.is_some() => {
                        let reading = !peer.is_reader_paused();
                        let hb = heartbeat.as_mut().expect("guarded");
                        match hb.check(Instant::now(), peer.last_received(), reading) {
                            Beat::Dead => break Outcome::Ended(RunEnd::Broken),
                            Beat::Ping(payload) => {
                                let _ = peer.command(Command::Ping(payload));
                            }
                            Beat::Wait => {}
                        }
                    }
                    _ = &mut close_timer => break Outcome::Done(false),
                    _ = peer.killed() => break Outcome::Done(false),
                    moment = resuming::moment(peer, keepalive_at.into()) => match moment {
                        resuming::Moment::Returned => break Outcome::Ended(RunEnd::Replaced),
                        resuming::Moment::AckDue => {
                            let _ = peer.command(Command::Ack);
                        }
                        resuming::Moment::Keepalive => {
                            keepalive_at += keepalive;
                            let _ = peer.command(Command::Keepalive);
                        }
                    },
                }
            }
        };
        ws = stream
            .reunite(sink)
            .expect("both halves come from one split");
        match outcome {
            Outcome::Done(clean) => return RunEnd::Closed(clean),
            Outcome::Ended(RunEnd::Replaced) => {
                // Told why it ends, on the side: the connection that replaces it is
                // taken over at once.
                tokio::spawn(replaced(ws, close_timeout));
                return RunEnd::Replaced;
            }
            Outcome::Ended(end) => return end,
            Outcome::NoDelay(on) => {
                let _ = ws.get_ref().get_ref().tcp().set_nodelay(on);
            }
            Outcome::Fail(code, reason) => {
                // Boxed: rare, and it would otherwise enlarge every connection's task.
                Box::pin(fail(ws, peer, code, reason)).await;
                return RunEnd::Closed(false);
            }
        }
    }
}

/// Resolves when the heartbeat has something to check.
async fn beat(heartbeat: &Option<Heartbeat>, peer: &PeerShared) {
    if let Some(hb) = heartbeat {
        sleep_until(hb.deadline(peer.last_received()).into()).await;
    }
}

/// Resolves once the caller has read every message of the peer and every queued
/// message is written, or after `grace`.
async fn drained(peer: &PeerShared, grace: Duration) {
    let _ = timeout(grace, async {
        while peer.has_unread() || peer.queued_packets() > 0 {
            sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// A session's connection its client replaced with a newer one: a close frame that says
/// so (`CLOSE_REPLACED`), then the end.
async fn replaced(ws: Ws, wait: Duration) {
    goodbye(
        ws,
        wire::CLOSE_REPLACED,
        "replaced by a newer connection",
        wait,
    )
    .await;
}

/// Fails the connection: a close frame with `code`, then the TCP connection ends.
async fn fail(ws: Ws, peer: &PeerShared, code: u16, reason: &'static str) {
    if peer.begin_closing() {
        peer.set_close_info(code, reason.to_string());
    }
    goodbye(ws, code, reason, LINGER).await;
}

/// A close frame with `code` and `reason` (written within `wait`), then the end of the
/// TCP connection once the client has sent what it still had (bounded): closing a socket
/// with unread data resets it, and a reset can destroy the close frame before the client
/// reads it.
pub(super) async fn goodbye(mut ws: Ws, code: u16, reason: &str, wait: Duration) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.to_owned().into(),
    };
    let _ = timeout(wait, ws.send(WsMessage::Close(Some(frame)))).await;
    linger(ws.get_mut().get_mut()).await;
}
