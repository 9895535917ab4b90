//! Broadcasts and groups across server processes, through Redis pub/sub: every message
//! sent with `broadcast` or `send_to_group` is also published (one channel per group,
//! one for everyone), and what the other processes publish is fanned out to this
//! process's peers. A process's own messages are recognised by its random origin id and
//! not delivered twice. Redis unreachable or lost: local peers keep being served, the game
//! hears of it once, messages that could not be published are reported, and the bridge
//! reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

use crate::core::fanout::{Fanout, Job, Recipients};
use crate::core::ids::PeerId;

/// What the bridge tells the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisEvent {
    /// Connected (again): messages are published and received.
    Connected,
    /// Redis is unreachable or the connection was lost (said once per outage); the bridge
    /// retries with backoff.
    Error(String),
    /// A message could not be published (its group; `None` for a broadcast). Local peers
    /// got it; the other processes did not.
    Unpublished(Option<String>),
}

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest time one connection attempt or publish may take.
const ATTEMPT: Duration = Duration::from_secs(2);

/// A message for the other processes.
struct Outgoing {
    group: Option<String>,
    payload: Vec<u8>,
}

/// The publishing end of a server's bridge.
pub(crate) struct Bridge {
    out: mpsc::UnboundedSender<Outgoing>,
    origin: [u8; 16],
}

impl Bridge {
    /// Starts the bridge task on the current runtime; it ends when `stop` resolves.
    pub fn start(
        client: redis::Client,
        prefix: String,
        fanout: Arc<Fanout>,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
        report: impl Fn(RedisEvent) + Send + 'static,
    ) -> Bridge {
        let (out, rx) = mpsc::unbounded_channel();
        let origin = random_origin();
        tokio::spawn(run(client, prefix, fanout, origin, rx, stop, report));
        Bridge { out, origin }
    }

    /// Publishes a message to the other processes (after it went to local peers).
    pub fn publish(&self, group: Option<&str>, data: &[u8], is_text: bool, exclude: &[PeerId]) {
        let payload = encode(self.origin, data, is_text, exclude);
        let _ = self.out.send(Outgoing {
            group: group.map(str::to_string),
            payload,
        });
    }
}

fn channel(prefix: &str, group: Option<&str>) -> String {
    match group {
        None => format!("{prefix}:all"),
        Some(g) => format!("{prefix}:group:{g}"),
    }
}

async fn run(
    client: redis::Client,
    prefix: String,
    fanout: Arc<Fanout>,
    origin: [u8; 16],
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    stop: impl std::future::Future<Output = ()>,
    report: impl Fn(RedisEvent),
) {
    tokio::pin!(stop);
    let mut backoff = Duration::from_millis(100);
    let mut down_reported = false;
    loop {
        let connected = tokio::select! {
            c = timeout(ATTEMPT, connect(&client, &prefix)) => c,
            _ = &mut stop => return,
        };
        let failure = match connected {
            Ok(Ok((mut conn, pubsub))) => {
                backoff = Duration::from_millis(100);
                down_reported = false;
                report(RedisEvent::Connected);
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(msg) => deliver(&fanout, origin, &prefix, &msg),
                            None => break "the connection to Redis was lost".to_string(),
                        },
                        out = rx.recv() => {
                            let Some(out) = out else { return };
                            let channel = channel(&prefix, out.group.as_deref());
                            let published = timeout(
                                ATTEMPT,
                                redis::cmd("PUBLISH")
                                    .arg(&channel)
                                    .arg(&out.payload)
                                    .query_async::<i64>(&mut conn),
                            )
                            .await;
                            if !matches!(published, Ok(Ok(_))) {
                                report(RedisEvent::Unpublished(out.group));
                                break format!("publishing to Redis failed ({})", describe(published.map(|r| r.map(|_| ()))));
                            }
                        }
                        _ = &mut stop => return,
                    }
                }
            }
            Ok(Err(e)) => format!("cannot connect to Redis: {e}"),
            Err(_) => "cannot connect to Redis: no answer within 2 s".to_string(),
        };
        if !down_reported {
            report(RedisEvent::Error(format!(
                "{failure}; local peers are still served, retrying"
            )));
            down_reported = true;
        }
        // Until the next attempt, what cannot be published is reported at once.
        let wait = sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                out = rx.recv() => match out {
                    Some(out) => report(RedisEvent::Unpublished(out.group)),
                    None => return,
                },
                _ = &mut stop => return,
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn describe(r: Result<redis::RedisResult<()>, tokio::time::error::Elapsed>) -> String {
    match r {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 2 s".into(),
    }
}

async fn connect(
    client: &redis::Client,
    prefix: &str,
) -> redis::RedisResult<(redis::aio::MultiplexedConnection, redis::aio::PubSub)> {
    let conn = client.get_multiplexed_async_connection().await?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(format!("{prefix}:*")).await?;
    Ok((conn, pubsub))
}

/// Fans a message from another process out to the local peers.
fn deliver(fanout: &Fanout, origin: [u8; 16], prefix: &str, msg: &redis::Msg) {
    let Some(decoded) = decode(msg.get_payload_bytes()) else {
        return;
    };
    if decoded.origin == origin {
        return; // our own: local peers already have it
    }
    let name = msg.get_channel_name();
    let to = match name.strip_prefix(prefix) {
        Some(":all") => Recipients::All,
        Some(rest) => match rest.strip_prefix(":group:") {
            Some(group) if fanout.has_group(group) => Recipients::Group(group.to_string()),
            _ => return,
        },
        None => return,
    };
    fanout.push(Job {
        data: decoded.data,
        is_text: decoded.is_text,
        to,
        exclude: decoded.exclude,
        unreliable: false,
    });
}

/// A message as published: version, origin, flags, exclude list, payload.
fn encode(origin: [u8; 16], data: &[u8], is_text: bool, exclude: &[PeerId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 4 * exclude.len() + data.len());
    out.push(1);
    out.extend(origin);
    out.push(u8::from(is_text));
    out.extend((exclude.len().min(u16::MAX as usize) as u16).to_le_bytes());
    for id in exclude.iter().take(u16::MAX as usize) {
        out.extend(id.to_le_bytes());
    }
    out.extend(data);
    out
}

struct Decoded {
    origin: [u8; 16],
    is_text: bool,
    exclude: Vec<PeerId>,
    data: Bytes,
}

fn decode(bytes: &[u8]) -> Option<Decoded> {
    if bytes.first() != Some(&1) || bytes.len() < 20 {
        return None;
    }
    let origin: [u8; 16] = bytes[1..17].try_into().ok()?;
    let is_text = bytes[17] == 1;
    let n = usize::from(u16::from_le_bytes([bytes[18], bytes[19]]));
    let ids_end = 20 + 4 * n;
    let exclude = bytes
        .get(20..ids_end)?
        .chunks_exact(4)
        .map(|c| PeerId::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let data = Bytes::copy_from_slice(&bytes[ids_end..]);
    if is_text && std::str::from_utf8(&data).is_err() {
        return None;
    }
    Some(Decoded {
        origin,
        is_text,
        exclude,
        data,
    })
}

fn random_origin() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        chunk.copy_from_slice(&r.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_the_encoding() {
        let origin = random_origin();
        assert_ne!(origin, random_origin());
        let bytes = encode(origin, "héllo".as_bytes(), true, &[7, -3]);
        let d = decode(&bytes).unwrap();
        assert_eq!(
            (d.origin, d.is_text, d.exclude.as_slice()),
            (origin, true, &[7, -3][..])
        );
        assert_eq!(&d.data[..], "héllo".as_bytes());
        assert!(decode(&bytes[..19]).is_none());
        assert!(decode(b"garbage from someone else").is_none());
        let bad_text = encode(origin, &[0xff], true, &[]);
        assert!(decode(&bad_text).is_none());
        assert_eq!(channel("ws", None), "ws:all");
        assert_eq!(channel("ws", Some("lobby")), "ws:group:lobby");
    }
}
