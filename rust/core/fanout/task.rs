//! The task that works through a server's send queue: fan-outs, single sends (written
//! straight to an idle plain socket, or handed to the connection's task) and commands,
//! in the order they were queued.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Fanout, Missed, Recipients, Work};

/// Most queued items handled before the task checks whether the server stopped.
const DRAIN_BATCH: usize = 256;
/// Above this many items waiting, single sends are handed to the connection tasks (which
/// run on every network thread) instead of written by this one task.
const DIRECT_BACKLOG: usize = 1024;

/// The receiving end of a server's fan-out queue.
pub(crate) struct FanoutQueue(mpsc::UnboundedReceiver<Work>);

impl FanoutQueue {
    pub(super) fn new(rx: mpsc::UnboundedReceiver<Work>) -> Self {
        FanoutQueue(rx)
    }
}

/// Dispatches queued work until the server stops (`stop` resolves), then what was queued
/// before (later pushes go straight to the peers); reports what was missed to `report`.
pub(crate) async fn run(
    fanout: Arc<Fanout>,
    mut queue: FanoutQueue,
    stop: impl std::future::Future<Output = ()>,
    report: impl Fn(Missed),
) {
    tokio::pin!(stop);
    loop {
        let first = tokio::select! {
            w = queue.0.recv() => match w {
                Some(w) => w,
                None => return,
            },
            _ = &mut stop => {
                queue.0.close();
                while let Ok(work) = queue.0.try_recv() {
                    handle(&fanout, work, &report);
                }
                return;
            }
        };
        let (mut next, mut done) = (Some(first), 0);
        while let Some(work) = next.take() {
            handle(&fanout, work, &report);
            done += 1;
            if done < DRAIN_BATCH {
                next = queue.0.try_recv().ok();
            }
        }
    }
}

/// Does one queued item.
fn handle(fanout: &Fanout, work: Work, report: &impl Fn(Missed)) {
    match work {
        Work::Many(job) => {
            let peers = fanout.dispatch(&job);
            if !peers.is_empty() {
                let group = match job.to {
                    Recipients::All => None,
                    Recipients::Group(g) => Some(g),
                };
                report(Missed { group, peers });
            }
        }
        Work::One(peer, data, is_text) => {
            let message = fanout.outgoing(&peer, data, is_text);
            // With a long backlog, the connection tasks write in parallel instead.
            let backlog = fanout.pending.load(Ordering::Acquire) > DIRECT_BACKLOG;
            if backlog || !peer.write_direct(&message, true) {
                peer.push(message);
            }
        }
        Work::Command(peer, command) => {
            let _ = peer.command(command);
        }
    }
    fanout.pending.fetch_sub(1, Ordering::AcqRel);
}
