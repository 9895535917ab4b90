//! The task that owns one connection: TLS, upgrade, then reading and writing until it
//! is closed. It reports to its session and never touches the caller's thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::OptionFuture;
use futures_util::stream::{SplitSink, SplitStream};
use std::sync::atomic::Ordering;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::fanout::Fanout;
use super::heartbeat::{self, Beat, Heartbeat};
use super::ids::PeerId;
use super::limits::Slot;
use super::multiplayer;
use super::opening::{LINGER, Opened, linger, open};
use super::peer::{Command, Message, Peer, PeerShared, ReadyState, ServerParts};
use super::rate::RateLimiter;
use super::runtime;
use super::session::{RawEvent, Session, stopped};
use super::stats::{Counters, Refused};
use super::stream::ServerStream;

type Ws = WebSocketStream<ServerStream>;

/// Read buffer per connection: small, so that idle connections stay cheap (larger
/// messages are read in several steps).
const READ_BUFFER: usize = 2048;
/// Most messages written before one flush.
const WRITE_BATCH: usize = 64;
/// Frames are gathered up to this size before a write; the buffer grows only when used.
const WRITE_BUFFER: usize = 16 * 1024;
/// Most received messages handed to the session under one lock.
const READ_BATCH: usize = 64;
/// How long a connection that broke the protocol waits for the caller to read what came
/// before and to send its replies.
const FAIL_GRACE: Duration = Duration::from_millis(500);

/// Serves one accepted TCP connection to its end; it holds `slot` under the connection
/// limits until then.
pub(crate) async fn serve(
    tcp: TcpStream,
    remote: SocketAddr,
    session: Arc<Session>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let mut slot = slot;
    let _live = runtime::LiveConnection::new();
    let _ = tcp.set_nodelay(true);
    let deadline = tokio::time::Instant::now() + session.handshake_timeout;
    let opened = tokio::select! {
        // Boxed: the handshake's state is freed once the connection is open.
        r = Box::pin(open(tcp, remote, &session, deadline, &mut slot)) => r,
        _ = stopped(&mut shutdown) => return,
    };
    let Opened {
        stream,
        request,
        leftover,
        id,
        remote,
        asked,
    } = match opened {
        Ok(opened) => opened,
        // Timed out, refused or failed: never a peer.
        Err(why) => {
            if let Some(why) = why {
                session.counters.refused(why);
            }
            return;
        }
    };
    let secure = matches!(stream, ServerStream::Tls(_));
    let (stream, direct) = stream.share();
    let peer = Arc::new(PeerShared::new(
        id,
        remote,
        request,
        secure,
        direct,
        ServerParts {
            limits: session.buffers,
            counters: session.counters.clone(),
            fanout: session.fanout.clone(),
        },
    ));
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(session.buffers.in_bytes))
        .max_frame_size(Some(session.buffers.in_bytes));
    let mut ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config)).await;
    if session.multiplayer {
        let id_msg = WsMessage::Binary(Bytes::copy_from_slice(&multiplayer::id_message(id)));
        if timeout(session.handshake_timeout, ws.send(id_msg))
            .await
            .map_or(true, |r| r.is_err())
        {
            if asked {
                session.push(RawEvent::UpgradeEnded(id));
            }
            return session.counters.refused(Refused::BadRequest);
        }
    }
    session.counters.accepted();
    session.fanout.joined(&peer);
    let mut guard = Disconnect {
        session: &session,
        peer: peer.clone(),
        clean: false,
    };
    // Declared after `guard`, so dropped before it: the peer has left its groups by the
    // time its `Disconnected` can be polled.
    let _left = Left(&session.counters, &session.fanout, id);
    session.push(RawEvent::Connected(peer.clone()));
    // The server stopping closes every joined peer (`Fanout::close_all`); one that joined
    // just after that sees the signal here.
    if *shutdown.borrow() {
        let _ = Peer(peer.clone()).close(1001, "");
    }
    drop(shutdown);
    guard.clean = run(ws, &peer, &session).await;
}

/// A peer's end: counted, and out of the fan-out's peers and groups.
struct Left<'a>(&'a Counters, &'a Fanout, PeerId);

impl Drop for Left<'_> {
    fn drop(&mut self) {
        self.0.left();
        self.1.left(self.2);
    }
}

/// Reports the end of a connection, however the task ends (even when dropped).
struct Disconnect<'a> {
    session: &'a Session,
    peer: Arc<PeerShared>,
    clean: bool,
}

impl Drop for Disconnect<'_> {
    fn drop(&mut self) {
        self.peer.set_state(ReadyState::Closed);
        self.peer.commands.close();
        self.peer.resume.notify_one();
        self.session
            .push(RawEvent::Disconnected(self.peer.clone(), self.clean));
    }
}

/// How one round of reading and writing ended.
enum Outcome {
    /// The connection is over; clean when both close frames were exchanged.
    Done(bool),
    /// Set TCP no-delay, then go on.
    NoDelay(bool),
    /// Fail the connection with this close code (protocol error, too big, bad UTF-8).
    Fail(u16, &'static str),
}

/// Reads and writes until the connection ends. Returns whether it closed cleanly.
async fn run(mut ws: Ws, peer: &Arc<PeerShared>, session: &Session) -> bool {
    let close_timer = async {
        peer.close_started.notified().await;
        sleep(session.close_timeout).await;
    };
    tokio::pin!(close_timer);
    let mut heartbeat = Heartbeat::new(session.settings.heartbeat(), peer.opened);
    let (messages, bytes) = session.settings.rate_limits();
    let mut limiter = RateLimiter::new(messages, bytes, Instant::now());
    let mut writer_done = false;
    let mut failing: Option<(u16, &'static str)> = None;
    // The wait before failing: made (and boxed) only then, as it is rare and large.
    let mut grace = None;
    loop {
        let (mut sink, mut stream) = ws.split();
        let outcome = {
            let reader = read_loop(&mut stream, peer, session, &mut limiter);
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
                        WriteEnd::Failed => break Outcome::Done(false),
                    },
                    _ = beat(&heartbeat, peer), if heartbeat.is_some() => {
                        let reading = !peer.reader_paused.load(Ordering::Acquire);
                        let hb = heartbeat.as_mut().expect("guarded");
                        match hb.check(Instant::now(), peer.last_received(), reading) {
                            Beat::Dead => break Outcome::Done(false),
                            Beat::Ping(payload) => {
                                let _ = peer.commands.send(Command::Ping(payload));
                            }
                            Beat::Wait => {}
                        }
                    }
                    _ = &mut close_timer => break Outcome::Done(false),
                    _ = peer.kill.notified() => break Outcome::Done(false),
                }
            }
        };
        ws = stream
            .reunite(sink)
            .expect("both halves come from one split");
        match outcome {
            Outcome::Done(clean) => return clean,
            Outcome::NoDelay(on) => {
                let _ = ws.get_ref().tcp().set_nodelay(on);
            }
            Outcome::Fail(code, reason) => {
                // Boxed: rare, and it would otherwise enlarge every connection's task.
                Box::pin(fail(ws, peer, code, reason)).await;
                return false;
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
        while peer.unread_packets.load(Ordering::Acquire) > 0
            || peer.queued_packets.load(Ordering::Acquire) > 0
        {
            sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// Fails the connection: a close frame with `code`, then the TCP connection ends.
async fn fail(mut ws: Ws, peer: &PeerShared, code: u16, reason: &'static str) {
    if peer.begin_closing() {
        *peer.close_info.lock() = Some((code, reason.to_string()));
    }
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    let _ = timeout(LINGER, ws.send(WsMessage::Close(Some(frame)))).await;
    linger(ws.get_mut()).await;
}

/// Reads messages into the session's queue, pausing while the caller has the
/// inbound limit unread (TCP backpressure: nothing is dropped). Messages that are
/// already decoded are handed over together, under one lock.
async fn read_loop(
    stream: &mut SplitStream<Ws>,
    peer: &Arc<PeerShared>,
    session: &Session,
    limiter: &mut Option<RateLimiter>,
) -> Outcome {
    let mut batch = Vec::new();
    loop {
        while peer.state() == ReadyState::Open && peer.inbound_full() {
            peer.reader_paused.store(true, Ordering::SeqCst);
            if peer.state() == ReadyState::Open && peer.inbound_full() {
                peer.resume.notified().await;
            }
            peer.reader_paused.store(false, Ordering::SeqCst);
        }
        // Over its rate limit: not read until the budget refills (TCP slows it down).
        let wait = limiter.as_ref().map_or(Duration::ZERO, RateLimiter::wait);
        if !wait.is_zero() {
            peer.reader_paused.store(true, Ordering::SeqCst);
            sleep(wait).await;
            peer.reader_paused.store(false, Ordering::SeqCst);
        }
        let mut next = stream.next().await;
        peer.touch();
        loop {
            match handle(next, peer, &mut batch) {
                Err(end) => {
                    session.push_all(&mut batch);
                    return end;
                }
                Ok(Some(len)) => {
                    if let Some(l) = limiter.as_mut() {
                        l.take(len, Instant::now());
                    }
                }
                Ok(None) => {}
            }
            if batch.len() >= READ_BATCH
                || (peer.state() == ReadyState::Open && peer.inbound_full())
                || limiter.as_ref().is_some_and(|l| !l.wait().is_zero())
            {
                break;
            }
            match stream.next().now_or_never() {
                Some(ready) => next = ready,
                None => break,
            }
        }
        session.push_all(&mut batch);
    }
}

/// Turns one item of the WebSocket stream into events (a message, a close request,
/// nothing for control frames), or the end of the connection.
fn handle(
    item: Option<Result<WsMessage, WsError>>,
    peer: &Arc<PeerShared>,
    batch: &mut Vec<RawEvent>,
) -> Result<Option<usize>, Outcome> {
    let (data, is_text) = match item {
        None => return Err(Outcome::Done(true)),
        Some(Ok(WsMessage::Text(t))) => (Bytes::from(t), true),
        Some(Ok(WsMessage::Binary(b))) => (b, false),
        Some(Ok(WsMessage::Close(frame))) => {
            let (code, reason) = frame.map_or((1005, String::new()), |f| {
                (u16::from(f.code), f.reason.to_string())
            });
            let started_by_client = peer.begin_closing();
            *peer.close_info.lock() = Some((code, reason.clone()));
            if started_by_client {
                batch.push(RawEvent::CloseRequested {
                    id: peer.id,
                    code,
                    reason,
                });
            }
            return Ok(None);
        }
        Some(Ok(WsMessage::Pong(payload))) => {
            if let Some(rtt) = heartbeat::round_trip(&payload, peer.opened.elapsed()) {
                peer.record_round_trip(rtt);
            }
            return Ok(None);
        }
        Some(Ok(_)) => return Ok(None), // pings: tungstenite answers them itself
        Some(Err(e)) => {
            return Err(match e {
                WsError::Capacity(_) => Outcome::Fail(1009, "message too big"),
                WsError::Utf8(_) => Outcome::Fail(1007, "invalid UTF-8 in text message"),
                WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                    Outcome::Done(false)
                }
                WsError::Protocol(_) => Outcome::Fail(1002, "protocol error"),
                _ => Outcome::Done(false),
            });
        }
    };
    peer.unread_packets.fetch_add(1, Ordering::AcqRel);
    peer.unread_bytes.fetch_add(data.len(), Ordering::AcqRel);
    peer.traffic.received(1, data.len());
    let len = data.len();
    batch.push(RawEvent::Message(peer.clone(), Message { data, is_text }));
    Ok(Some(len))
}

enum WriteEnd {
    CloseSent,
    NoDelay(bool),
    Failed,
}

/// Writes queued messages in order, several per flush, then the close frame.
async fn write_loop(sink: &mut SplitSink<Ws, WsMessage>, peer: &PeerShared) -> WriteEnd {
    let rx = &peer.commands;
    while let Some(first) = rx.recv().await {
        let (mut packets, mut bytes) = (0usize, 0usize);
        let mut next = Some(first);
        let mut end = None;
        while let Some(command) = next.take() {
            match command {
                Command::Send { data, is_text } => {
                    let len = data.len();
                    let msg = if is_text {
                        // Checked as UTF-8 when queued.
                        match data.try_into() {
                            Ok(text) => WsMessage::Text(text),
                            Err(_) => {
                                peer.sent(1, len);
                                continue;
                            }
                        }
                    } else {
                        WsMessage::Binary(data)
                    };
                    if sink.feed(msg).await.is_err() {
                        return WriteEnd::Failed;
                    }
                    packets += 1;
                    bytes += len;
                }
                Command::Close { code, reason } => {
                    end = Some(WriteEnd::CloseSent);
                    let frame = CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    };
                    if sink.feed(WsMessage::Close(Some(frame))).await.is_err() {
                        return WriteEnd::Failed;
                    }
                    break;
                }
                Command::NoDelay(on) => {
                    end = Some(WriteEnd::NoDelay(on));
                    break;
                }
                Command::Flush => {}
                Command::Ping(payload) => {
                    let ping = WsMessage::Ping(Bytes::copy_from_slice(&payload));
                    if sink.feed(ping).await.is_err() {
                        return WriteEnd::Failed;
                    }
                }
            }
            if packets < WRITE_BATCH {
                next = rx.try_recv();
            }
        }
        if sink.flush().await.is_err() {
            return WriteEnd::Failed;
        }
        peer.sent(packets, bytes);
        peer.traffic.sent(packets, bytes);
        if let Some(end) = end {
            return end;
        }
    }
    std::future::pending().await
}
