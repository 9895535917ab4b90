//! The commands the caller's thread gives a connection task, in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// A message on its way out: the game's bytes, and their compressed form when the
/// peer's connection agreed to permessage-deflate and the message is worth it.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub data: Bytes,
    pub is_text: bool,
    /// Written instead of `data`, in a frame with RSV1 set (RFC 7692).
    pub deflated: Option<Bytes>,
}

impl Outgoing {
    /// A message that goes uncompressed.
    pub fn plain(data: Bytes, is_text: bool) -> Self {
        Outgoing {
            data,
            is_text,
            deflated: None,
        }
    }

    /// The payload as written, and whether it is compressed.
    pub fn wire(&self) -> (&Bytes, bool) {
        match &self.deflated {
            Some(d) => (d, true),
            None => (&self.data, false),
        }
    }
}

/// What the caller's thread asks of a connection task.
pub(crate) enum Command {
    Send(Outgoing),
    Close {
        code: u16,
        reason: String,
    },
    NoDelay(bool),
    Ping([u8; 8]),
    /// Write what a direct write left over.
    Flush,
    /// Tell a session's client how many messages arrived.
    Ack,
    /// Tell a session's client the link is alive (it sees a silent link as dead).
    Keepalive,
}

/// What the caller's thread asks of a connection task, in order. A mutex-guarded queue
/// allocates nothing until used, where a channel would allocate a block per connection.
#[derive(Default)]
pub(crate) struct CommandQueue {
    queue: Mutex<VecDeque<Command>>,
    closed: AtomicBool,
    ready: Notify,
}

impl CommandQueue {
    /// Queues a command; gives it back when the connection task has ended.
    pub fn send(&self, command: Command) -> Result<(), Command> {
        {
            let mut queue = self.queue.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(command);
            }
            queue.push_back(command);
        }
        self.ready.notify_one();
        Ok(())
    }

    pub fn try_recv(&self) -> Option<Command> {
        self.queue.lock().pop_front()
    }

    /// The next command; `None` once closed and empty.
    pub async fn recv(&self) -> Option<Command> {
        loop {
            if let Some(command) = self.try_recv() {
                return Some(command);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// The connection task has ended: further commands are refused.
    pub fn close(&self) {
        let mut queue = self.queue.lock();
        self.closed.store(true, Ordering::Release);
        queue.clear();
        drop(queue);
        self.ready.notify_one();
    }
}
