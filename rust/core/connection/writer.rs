//! The writing half of a connection: queued messages out in order, several per flush,
//! then the close frame.

use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};

use super::Ws;
use crate::core::observability::hops;
use crate::core::peer::{Command, Outgoing, PeerShared};
use crate::core::session::wire;

/// Most messages written before one flush.
const WRITE_BATCH: usize = 64;

pub(super) enum WriteEnd {
    CloseSent,
    NoDelay(bool),
    Failed,
}

/// Writes queued messages in order, several per flush, then the close frame.
pub(super) async fn write_loop(sink: &mut SplitSink<Ws, WsMessage>, peer: &PeerShared) -> WriteEnd {
    let rx = peer.commands();
    while let Some(first) = rx.recv().await {
        let (mut packets, mut bytes) = (0usize, 0usize);
        let mut next = Some(first);
        let mut end = None;
        while let Some(command) = next.take() {
            match command {
                Command::Send(message) => {
                    let len = message.data.len();
                    // Kept for replay until the client acknowledges it.
                    if let Some(session) = peer.session() {
                        session.written(message.data.clone(), message.is_text);
                    }
                    let Some(frame) = frame_of(message) else {
                        peer.sent(1, len);
                        continue;
                    };
                    if sink.feed(frame).await.is_err() {
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
                Command::Ack => {
                    if let Some(session) = peer.session().filter(|s| s.unacknowledged() > 0) {
                        let ack = WsMessage::Binary(wire::ack(session.ack_now()));
                        if sink.feed(ack).await.is_err() {
                            return WriteEnd::Failed;
                        }
                    }
                }
                Command::Keepalive => {
                    let keepalive = WsMessage::Binary(wire::keepalive());
                    if sink.feed(keepalive).await.is_err() {
                        return WriteEnd::Failed;
                    }
                }
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
        // A session's messages count as queued until acknowledged.
        if peer.session().is_none() {
            peer.sent(packets, bytes);
        }
        peer.traffic().sent(packets, bytes);
        hops::written(peer.id(), packets);
        if let Some(end) = end {
            return end;
        }
    }
    std::future::pending().await
}

/// The frame of a message: compressed (RSV1 set) when it has a compressed form; `None` for
/// text that is not UTF-8 (checked when queued, so never).
fn frame_of(message: Outgoing) -> Option<WsMessage> {
    let Outgoing {
        data,
        is_text,
        deflated,
    } = message;
    if let Some(deflated) = deflated {
        let kind = if is_text {
            OpData::Text
        } else {
            OpData::Binary
        };
        let mut frame = Frame::message(deflated, OpCode::Data(kind), true);
        frame.header_mut().rsv1 = true;
        return Some(WsMessage::Frame(frame));
    }
    if is_text {
        data.try_into().ok().map(WsMessage::Text)
    } else {
        Some(WsMessage::Binary(data))
    }
}
