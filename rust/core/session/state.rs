//! What the server keeps for one session: the messages written and not yet acknowledged
//! (for replay), the count of messages received (for the client's replay), whether the
//! peer is away, and the slot a returning connection is handed over in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use tokio_tungstenite::WebSocketStream;

use super::Token;
use crate::core::compression::Agreed;
use crate::core::ids::PeerId;
use crate::core::socket::inflating::Inflating;

/// A connection whose hello proved a live session, for the session's peer to take over.
pub(crate) struct Returning {
    /// The WebSocket, its hello read (boxed: it waits in a slot, and is large).
    pub ws: Box<WebSocketStream<Inflating>>,
    /// Where it comes from now.
    pub remote: SocketAddr,
    /// Game messages of the session the client says it has received.
    pub received: u64,
    /// permessage-deflate as agreed on the new connection.
    pub deflate: Option<Agreed>,
    /// The secret its hello presented.
    pub token: Token,
    /// When its opening must be done (`handshake_timeout` from its TCP accept): the
    /// welcome and the messages it missed written.
    pub deadline: tokio::time::Instant,
}

impl ReplayLog {
    /// How many kept messages a client that received `count` has already; `None` when
    /// it cannot have received that many (fewer than acknowledged, more than written).
    fn skip(&self, count: u64) -> Option<usize> {
        let acknowledged = self.first - 1;
        let written = acknowledged + self.entries.len() as u64;
        (acknowledged..=written)
            .contains(&count)
            .then(|| (count - acknowledged) as usize)
    }
}

/// A session's secrets: the one the last welcome gave, and the one before it, which
/// still opens the session until the client shows that it got that welcome.
struct Secrets {
    current: Token,
    previous: Option<Token>,
}

/// Messages written and not acknowledged: the one numbered `first` at the front.
struct ReplayLog {
    first: u64,
    entries: VecDeque<(Bytes, bool)>,
    bytes: usize,
}

/// The state of one session, shared by its peer's task, the reader, the writer and a
/// returning connection's task.
pub(crate) struct Session {
    /// The session's peer.
    pub id: PeerId,
    secrets: Mutex<Secrets>,
    /// A renewed secret waits for the client to show it has it.
    unconfirmed: AtomicBool,
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

impl Session {
    pub fn new(id: PeerId, token: Token) -> Self {
        Session {
            id,
            secrets: Mutex::new(Secrets {
                current: token,
                previous: None,
            }),
            unconfirmed: AtomicBool::new(false),
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

    /// The secret the next welcome gives.
    pub fn token(&self) -> Token {
        self.secrets.lock().current
    }

    /// Whether `presented` opens this session: its secret, or the one before it while the
    /// client may not have got the welcome that replaced it.
    pub fn proves(&self, presented: &Token) -> bool {
        let secrets = self.secrets.lock();
        // Both compared, in constant time, whichever matches.
        let current = secrets.current.matches(presented);
        let previous = secrets.previous.is_some_and(|p| p.matches(presented));
        current | previous
    }

    /// A return with `presented` was taken: a new secret for its welcome. `presented`
    /// still opens the session until [`Session::confirmed`] (the welcome may be lost).
    pub fn renew(&self, presented: Token) {
        let mut secrets = self.secrets.lock();
        secrets.previous = Some(presented);
        secrets.current = Token::random();
        self.unconfirmed.store(true, Ordering::Release);
    }

    /// The client spoke on the connection its last welcome came on: it has the secret
    /// of that welcome, and the one before opens nothing any more. Cheap when nothing
    /// waits for it (every frame of a session calls it).
    pub fn confirmed(&self) {
        if self.unconfirmed.load(Ordering::Acquire)
            && self.unconfirmed.swap(false, Ordering::AcqRel)
        {
            self.secrets.lock().previous = None;
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
        let skip = log.skip(count)?;
        Some(log.entries.iter().skip(skip).cloned().collect())
    }

    /// Whether a client may have received `count` game messages of the session: no fewer
    /// than it acknowledged, no more than were written.
    pub fn in_step(&self, count: u64) -> bool {
        self.log.lock().skip(count).is_some()
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
        let r = Session::new(2, Token::random());
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
        assert!(r.unreceived(u64::MAX).is_none() && !r.in_step(u64::MAX));
        assert!(r.in_step(2) && r.in_step(5) && !r.in_step(1));
        assert_eq!(r.forget(), (3, 12));
        assert_eq!(r.unreceived(5).unwrap().len(), 0);
    }

    /// A returning connection over a real loopback socket.
    async fn returning() -> Returning {
        use crate::core::socket::stream::ServerStream;
        use tokio_tungstenite::tungstenite::protocol::Role;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let remote = tcp.local_addr().unwrap();
        let (stream, leftover) = Inflating::new(ServerStream::Plain(tcp), Vec::new(), false, 1024);
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, None).await;
        Returning {
            ws: Box::new(ws),
            remote,
            received: 0,
            deflate: None,
            token: Token::random(),
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(3),
        }
    }

    #[tokio::test]
    async fn a_wake_left_from_a_return_already_taken_is_not_a_return() {
        use futures_util::FutureExt;
        let r = Session::new(2, Token::random());
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
    fn each_return_gets_a_new_secret_and_the_old_one_lasts_until_the_client_speaks() {
        let first = Token::random();
        let r = Session::new(2, first);
        assert!(r.proves(&first) && !r.proves(&Token::random()));
        r.renew(first);
        let second = r.token();
        assert!(!second.matches(&first));
        // The welcome with the new one may be lost: both open the session for now.
        assert!(r.proves(&first) && r.proves(&second));
        r.confirmed();
        assert!(
            !r.proves(&first),
            "the old secret opens nothing once confirmed"
        );
        assert!(r.proves(&second));
        // A return with the secret before the last one (its welcome was lost).
        r.renew(second);
        let third = r.token();
        r.renew(second);
        assert!(
            !r.proves(&third),
            "a secret whose welcome never came is dead"
        );
    }

    #[test]
    fn acknowledgements_follow_the_received_count() {
        let r = Session::new(2, Token::random());
        assert_eq!(r.received_one(), 1);
        assert_eq!(r.received_one(), 2);
        assert_eq!(r.unacknowledged(), 2);
        assert_eq!(r.ack_now(), 2);
        assert_eq!(r.unacknowledged(), 0);
    }
}
