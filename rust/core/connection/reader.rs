//! The reading half of a connection: frames in, messages handed to the server's queue in
//! batches, paused while the caller has the inbound limit unread or the client is over
//! its rate limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};

use super::{Outcome, Ws, heartbeat};
use crate::core::observability::hops::InHops;
use crate::core::peer::{Command, Message, PeerShared, ReadyState};
use crate::core::policy::rate::RateLimiter;
use crate::core::server_shared::{RawEvent, ServerShared};
use crate::core::session::wire::{self, Incoming};
use crate::core::socket::inflating::inflate_failure;

/// Most received messages handed to the server's queue under one lock.
const READ_BATCH: usize = 64;
/// A session acknowledges at once when this many messages wait for it.
const ACK_EVERY: u64 = 32;

/// Reads messages into the server's queue, pausing while the caller has the
/// inbound limit unread (TCP backpressure: nothing is dropped). Messages that are
/// already decoded are handed over together, under one lock.
pub(super) async fn read_loop(
    stream: &mut SplitStream<Ws>,
    peer: &Arc<PeerShared>,
    shared: &ServerShared,
    limiter: &mut Option<RateLimiter>,
) -> Outcome {
    let mut batch = Vec::new();
    loop {
        peer.wait_for_room().await;
        // Over its rate limit: not read until the budget refills (TCP slows it down).
        let wait = limiter.as_ref().map_or(Duration::ZERO, RateLimiter::wait);
        if !wait.is_zero() {
            peer.pause_reader(wait).await;
        }
        let mut next = stream.next().await;
        peer.touch();
        loop {
            match handle(next, peer, &mut batch) {
                Err(end) => {
                    shared.push_all(&mut batch);
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
        shared.push_all(&mut batch);
        acknowledge(peer);
    }
}

/// Acknowledges a session's messages: at once after [`ACK_EVERY`], else soon.
fn acknowledge(peer: &PeerShared) {
    if let Some(session) = peer.session() {
        match session.unacknowledged() {
            0 => {}
            n if n >= ACK_EVERY => {
                let _ = peer.command(Command::Ack);
            }
            _ => session.ack_wanted.notify_one(),
        }
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
            peer.set_close_info(code, reason.clone());
            if started_by_client {
                batch.push(RawEvent::CloseRequested {
                    id: peer.id(),
                    code,
                    reason,
                });
            }
            return Ok(None);
        }
        Some(Ok(WsMessage::Pong(payload))) => {
            if let Some(rtt) = heartbeat::round_trip(&payload, peer.opened().elapsed()) {
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
                WsError::Io(e) => match inflate_failure(&e) {
                    Some((code, reason)) => Outcome::Fail(code, reason),
                    None => Outcome::Done(false),
                },
                _ => Outcome::Done(false),
            });
        }
    };
    let data = match peer.session() {
        None => data,
        Some(session) => {
            // Whatever comes after a welcome shows that the client has its secret.
            session.confirmed();
            match wire::incoming(data, is_text) {
                Incoming::Data(data) => {
                    session.received_one();
                    data
                }
                Incoming::Ack(count) => {
                    match session.acknowledged(count) {
                        Some((packets, bytes)) => peer.sent(packets, bytes),
                        None => {
                            return Err(Outcome::Fail(1008, "acknowledged more than was sent"));
                        }
                    }
                    return Ok(None);
                }
                Incoming::Ignored => return Ok(None),
            }
        }
    };
    peer.received(data.len());
    peer.traffic().received(1, data.len());
    let len = data.len();
    batch.push(RawEvent::Message(
        peer.clone(),
        Message {
            data,
            is_text,
            hops: InHops::read_now(),
        },
    ));
    Ok(Some(len))
}
