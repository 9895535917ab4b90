//! The task that owns one connection: TLS, upgrade, then reading and writing until it
//! is closed. It reports to its session and never touches the caller's thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use std::sync::atomic::Ordering;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::handshake::{self, ReadError, Refusal, Upgrade};
use super::heartbeat::{self, Beat, Heartbeat};
use super::limits::{LimitRefusal, Refusing, Slot};
use super::multiplayer;
use super::peer::{Command, Message, Peer, PeerShared, ReadyState};
use super::runtime;
use super::session::{RawEvent, Session, stopped};
use super::stats::Refused;
use super::stream::ServerStream;

type Ws = WebSocketStream<ServerStream>;

/// Read buffer per connection: small, so that idle connections stay cheap.
const READ_BUFFER: usize = 4096;
/// Most messages written before one flush.
const WRITE_BATCH: usize = 64;
/// Frames are gathered up to this size before a write; the buffer grows only when used.
const WRITE_BUFFER: usize = 16 * 1024;
/// Most received messages handed to the session under one lock.
const READ_BATCH: usize = 64;
/// How long a refused or failed connection may take to say goodbye.
const LINGER: Duration = Duration::from_millis(500);
/// How long a connection that broke the protocol waits for the caller to read what came
/// before and to send its replies.
const FAIL_GRACE: Duration = Duration::from_millis(500);
/// Longest time a connection refused by a limit may take to be told so (HTTP 503).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one accepted TCP connection to its end; it holds `slot` under the connection
/// limits until then.
pub(crate) async fn serve(
    tcp: TcpStream,
    remote: SocketAddr,
    session: Arc<Session>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let _slot = slot;
    let _live = runtime::LiveConnection::new();
    let _ = tcp.set_nodelay(true);
    let opened = tokio::select! {
        r = timeout(session.handshake_timeout, open(tcp, &session, || session.refusal())) => r,
        _ = stopped(&mut shutdown) => return,
    };
    let (stream, upgrade) = match opened {
        Ok(Ok(opened)) => opened,
        // Timed out, refused or failed: never a peer.
        Ok(Err(why)) => return session.counters.refused(why),
        Err(_) => return session.counters.refused(Refused::HandshakeTimeout),
    };
    let id = session.next_id();
    let secure = matches!(stream, ServerStream::Tls(_));
    let (commands, mut rx) = mpsc::unbounded_channel();
    let peer = Arc::new(PeerShared::new(
        id,
        remote,
        upgrade.request,
        secure,
        session.buffers,
        commands,
        session.counters.clone(),
    ));
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(session.buffers.in_bytes))
        .max_frame_size(Some(session.buffers.in_bytes));
    let mut ws =
        WebSocketStream::from_partially_read(stream, upgrade.leftover, Role::Server, Some(config))
            .await;
    if session.multiplayer {
        let id_msg = WsMessage::Binary(Bytes::copy_from_slice(&multiplayer::id_message(id)));
        if timeout(session.handshake_timeout, ws.send(id_msg))
            .await
            .map_or(true, |r| r.is_err())
        {
            return;
        }
    }
    session.counters.accepted();
    let mut guard = Disconnect {
        session: &session,
        peer: peer.clone(),
        clean: false,
    };
    session.push(RawEvent::Connected(peer.clone()));
    guard.clean = run(ws, &peer, &mut rx, &session, &mut shutdown).await;
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
        self.peer.resume.notify_one();
        self.session
            .push(RawEvent::Disconnected(self.peer.clone(), self.clean));
    }
}

/// Answers a connection turned away by a connection limit: TLS when configured, then the
/// request is read and answered with HTTP 503 (bounded in time; never a peer).
pub(crate) async fn refuse(
    tcp: TcpStream,
    session: Arc<Session>,
    why: LimitRefusal,
    refusing: Refusing,
) {
    let _refusing = refusing;
    let _live = runtime::LiveConnection::new();
    let detail = match why {
        LimitRefusal::Total => "the server is full (max_connections); try again later",
        LimitRefusal::PerIp => "too many connections from your address (max_connections_per_ip)",
    };
    let wait = session.handshake_timeout.min(REFUSAL_TIMEOUT);
    let refusal = || Some(Refusal::new(503, detail));
    let _ = timeout(wait, open(tcp, &session, refusal)).await;
}

/// TLS (when configured) and the HTTP upgrade; why not, when refused or failed.
async fn open(
    tcp: TcpStream,
    session: &Session,
    refuse: impl Fn() -> Option<Refusal>,
) -> Result<(ServerStream, Upgrade), Refused> {
    let acceptor = session.tls.read().clone();
    let mut stream = match acceptor {
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(tls) => ServerStream::Tls(Box::new(tls)),
            Err(_) => return Err(Refused::BadRequest),
        },
        None => ServerStream::Plain(tcp),
    };
    match handshake::upgrade(&mut stream, &session.protocols, refuse).await {
        Ok(upgrade) => Ok((stream, upgrade)),
        Err(ReadError::Refused(refusal)) => {
            let _ = stream.write_all(&refusal.response()).await;
            linger(&mut stream).await;
            Err(refusal.why)
        }
        Err(_) => Err(Refused::BadRequest),
    }
}

/// Half-closes and reads until the client closes too (bounded), so that the last
/// bytes sent are not lost to a TCP reset.
async fn linger(stream: &mut ServerStream) {
    let _ = timeout(LINGER, async {
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
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
async fn run(
    mut ws: Ws,
    peer: &Arc<PeerShared>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    session: &Session,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let close_timer = async {
        peer.close_started.notified().await;
        sleep(session.close_timeout).await;
    };
    tokio::pin!(close_timer);
    let mut heartbeat = Heartbeat::new(session.heartbeat_interval(), peer.opened);
    let mut writer_done = false;
    let mut shutting_down = false;
    let mut failing: Option<(u16, &'static str)> = None;
    loop {
        let (mut sink, mut stream) = ws.split();
        let outcome = {
            let reader = read_loop(&mut stream, peer, session);
            let writer = write_loop(&mut sink, rx, peer);
            tokio::pin!(reader, writer);
            loop {
                tokio::select! {
                    end = &mut reader, if failing.is_none() => match end {
                        // Before failing the connection, give the caller a moment to
                        // read what came before the bad frame and to send its replies.
                        Outcome::Fail(code, reason) => failing = Some((code, reason)),
                        other => break other,
                    },
                    _ = drained(peer, FAIL_GRACE), if failing.is_some() => {
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
                    _ = stopped(shutdown), if !shutting_down => {
                        shutting_down = true;
                        let _ = Peer(peer.clone()).close(1001, "");
                    }
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
                fail(ws, peer, code, reason).await;
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
        let mut next = stream.next().await;
        peer.touch();
        loop {
            if let Err(end) = handle(next, peer, &mut batch) {
                session.push_all(&mut batch);
                return end;
            }
            if batch.len() >= READ_BATCH
                || (peer.state() == ReadyState::Open && peer.inbound_full())
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
) -> Result<(), Outcome> {
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
            return Ok(());
        }
        Some(Ok(WsMessage::Pong(payload))) => {
            if let Some(rtt) = heartbeat::round_trip(&payload, peer.opened.elapsed()) {
                peer.record_round_trip(rtt);
            }
            return Ok(());
        }
        Some(Ok(_)) => return Ok(()), // pings: tungstenite answers them itself
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
    batch.push(RawEvent::Message(peer.clone(), Message { data, is_text }));
    Ok(())
}

enum WriteEnd {
    CloseSent,
    NoDelay(bool),
    Failed,
}

/// Writes queued messages in order, several per flush, then the close frame.
async fn write_loop(
    sink: &mut SplitSink<Ws, WsMessage>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    peer: &PeerShared,
) -> WriteEnd {
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
                Command::Ping(payload) => {
                    let ping = WsMessage::Ping(Bytes::copy_from_slice(&payload));
                    if sink.feed(ping).await.is_err() {
                        return WriteEnd::Failed;
                    }
                }
            }
            if packets < WRITE_BATCH {
                next = rx.try_recv().ok();
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
