//! What the server keeps for one session: the messages written and not yet acknowledged
//! (for replay), the count of messages received (for the client's replay), whether the
//! peer is away, and the slot a returning connection is handed over in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Token;
use crate::core::compression::Agreed;
use crate::core::socket::stream::ServerStream;

/// A connection that presented a live session, for the session's peer to take over.
pub(crate) struct Returning {
    pub stream: ServerStream,
    /// Bytes the client sent after its request.
    pub leftover: Vec<u8>,
    /// Where it comes from now.
    pub remote: SocketAddr,
    /// Game messages of the session the client says it has received.
    pub received: u64,
    /// permessage-deflate as agreed on the new connection.
    pub deflate: Option<Agreed>,
}

/// Messages written and not acknowledged: the one numbered `first` at the front.
struct ReplayLog {
    first: u64,
    entries: VecDeque<(Bytes, bool)>,
    bytes: usize,
}

/// The state of one session, shared by its peer's task, the reader, the writer and a
/// returning connection's task.
pub(crate) struct Resumable {
    pub token: Token,
    log: Mutex<ReplayLog>,
    /// Game messages received from the client in this session.
    received: AtomicU64,
    /// The count last acknowledged to the client.
    acked: AtomicU64,
    /// Something received waits for its acknowledgement.
    pub ack_wanted: Notify,
    away: AtomicBool,
    returning: Mutex<Option<Returning>>,
    /// A returning connection was handed over.
    returned: Notify,
    ended: AtomicBool,
}

impl Resumable {
    pub fn new(token: Token) -> Self {
        Resumable {
            token,
            log: Mutex::new(ReplayLog {
                first: 1,
                entries: VecDeque::new(),
                bytes: 0,
            }),
            received: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            ack_wanted: Notify::new(),
            away: AtomicBool::new(false),
            returning: Mutex::new(None),
            returned: Notify::new(),
            ended: AtomicBool::new(false),
        }
    }

    /// Keeps a message about to be written (as it goes on the wire) until acknowledged.
    pub fn written(&self, data: Bytes, is_text: bool) {
        let mut log = self.log.lock();
        log.bytes += data.len();
        log.entries.push_back((data, is_text));
    }

    /// The client has received `count` messages: those are forgotten. Returns how many
    /// messages and bytes that frees; `None` when `count` is more than was written.
    pub fn acknowledged(&self, count: u64) -> Option<(usize, usize)> {
        let mut log = self.log.lock();
        if count > log.first - 1 + log.entries.len() as u64 {
            return None;
        }
        let (mut packets, mut bytes) = (0, 0);
        while log.first <= count {
            let Some((data, _)) = log.entries.pop_front() else {
                break;
            };
            log.first += 1;
            log.bytes -= data.len();
            packets += 1;
            bytes += data.len();
        }
        Some((packets, bytes))
    }

    /// The messages to write again for a client that has received `count`: `None` when
    /// the client is out of step (it claims fewer than it acknowledged, or more than
    /// was written).
    pub fn unreceived(&self, count: u64) -> Option<Vec<(Bytes, bool)>> {
        let log = self.log.lock();
        let written = log.first - 1 + log.entries.len() as u64;
        if count + 1 < log.first || count > written {
            return None;
        }
        let skip = (count + 1 - log.first) as usize;
        Some(log.entries.iter().skip(skip).cloned().collect())
    }

    /// Forgets every kept message (the session ended); how many messages and bytes.
    pub fn forget(&self) -> (usize, usize) {
        let mut log = self.log.lock();
        let freed = (log.entries.len(), log.bytes);
        let written = log.first - 1 + log.entries.len() as u64;
        log.entries.clear();
        log.bytes = 0;
        log.first = written + 1;
        freed
    }

    /// Counts a game message received; the new count.
    pub fn received_one(&self) -> u64 {
        self.received.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Game messages received in this session.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }

    /// Messages received and not yet acknowledged to the client.
    pub fn unacknowledged(&self) -> u64 {
        self.received() - self.acked.load(Ordering::Acquire)
    }

    /// The count to acknowledge now (recorded as acknowledged).
    pub fn ack_now(&self) -> u64 {
        let count = self.received();
        self.acked.fetch_max(count, Ordering::AcqRel);
        count
    }

    pub fn set_away(&self, away: bool) {
        self.away.store(away, Ordering::Release);
    }

    /// Whether the connection broke and the client has not come back yet.
    pub fn is_away(&self) -> bool {
        self.away.load(Ordering::Acquire)
    }

    /// Hands a returning connection to the session's peer (a newer one replaces one not
    /// yet taken); gives it back when the session has ended.
    pub fn hand_over(&self, returning: Returning) -> Result<(), Returning> {
        let mut slot = self.returning.lock();
        if self.ended.load(Ordering::Acquire) {
            return Err(returning);
        }
        *slot = Some(returning);
        drop(slot);
        self.returned.notify_one();
        Ok(())
    }

    /// The connection handed over, if any.
    pub fn take_returning(&self) -> Option<Returning> {
        self.returning.lock().take()
    }

    /// Resolves once a returning connection waits to be taken. A wake left over from one
    /// that was taken meanwhile (its connection's old one ended in the same instant) is
    /// not one: it would end the connection that replaced the old one.
    pub async fn returned(&self) {
        loop {
            let woken = self.returned.notified();
            if self.returning.lock().is_some() {
                return;
            }
            woken.await;
        }
    }

    /// The session is over: nothing more is handed over (one waiting is dropped).
    pub fn end(&self) {
        let mut slot = self.returning.lock();
        self.ended.store(true, Ordering::Release);
        slot.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8) -> Bytes {
        Bytes::from(vec![n; usize::from(n)])
    }

    #[test]
    fn acknowledged_messages_are_forgotten_and_the_rest_replayed_in_order() {
        let r = Resumable::new(Token::random());
        for n in 1..=5 {
            r.written(msg(n), false);
        }
        assert_eq!(r.acknowledged(2), Some((2, 3)));
        assert_eq!(r.acknowledged(2), Some((0, 0)), "twice is harmless");
        assert_eq!(r.acknowledged(9), None, "more than was written");
        let rest: Vec<u8> = r.unreceived(3).unwrap().iter().map(|m| m.0[0]).collect();
        assert_eq!(rest, [4, 5]);
        assert_eq!(r.unreceived(2).unwrap().len(), 3);
        assert!(r.unreceived(1).is_none(), "fewer than it acknowledged");
        assert!(r.unreceived(6).is_none(), "more than was written");
        assert_eq!(r.forget(), (3, 12));
        assert_eq!(r.unreceived(5).unwrap().len(), 0);
    }

    /// A returning connection over a real loopback socket.
    async fn returning() -> Returning {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        Returning {
            remote: tcp.local_addr().unwrap(),
            stream: ServerStream::Plain(tcp),
            leftover: Vec::new(),
            received: 0,
            deflate: None,
        }
    }

    #[tokio::test]
    async fn a_wake_left_from_a_return_already_taken_is_not_a_return() {
        use futures_util::FutureExt;
        let r = Resumable::new(Token::random());
        // Handed over while nobody waits (the old connection's task was ending): the
        // wake is kept; then the connection is taken by the task's other path.
        assert!(r.hand_over(returning().await).is_ok());
        assert!(r.take_returning().is_some());
        assert!(
            r.returned().now_or_never().is_none(),
            "the wake left over is taken for a return"
        );
        assert!(r.hand_over(returning().await).is_ok());
        assert!(r.returned().now_or_never().is_some(), "a real one is");
    }

    #[test]
    fn acknowledgements_follow_the_received_count() {
        let r = Resumable::new(Token::random());
        assert_eq!(r.received_one(), 1);
        assert_eq!(r.received_one(), 2);
        assert_eq!(r.unacknowledged(), 2);
        assert_eq!(r.ack_now(), 2);
        assert_eq!(r.unacknowledged(), 0);
    }
}
