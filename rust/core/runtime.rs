//! The one process-wide Tokio runtime that does all network I/O.
//!
//! It is created on first use and lives until [`shutdown`], which joins its threads.
//! The Godot layer calls [`shutdown`] when the library is unloaded, so that editor hot
//! reload never unloads code that a worker thread still runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

static RUNTIME: Mutex<Option<(Runtime, watch::Sender<bool>)>> = Mutex::new(None);
static WORKER_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Connection tasks alive in the runtime.
static LIVE_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
/// How long [`shutdown`] lets closing connections finish their close handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Environment variable that overrides the number of worker threads.
pub const THREADS_ENV: &str = "GODOT_WEBSOCKET_SERVER_THREADS";

/// Sets the number of worker threads for the runtime created next (0 = the default).
/// A runtime that is already running keeps its threads.
pub fn set_worker_threads(count: usize) {
    WORKER_THREADS.store(count, Ordering::Relaxed);
}

/// The number of worker threads a new runtime gets: the value set with
/// [`set_worker_threads`], else `GODOT_WEBSOCKET_SERVER_THREADS`, else one less than the
/// number of cores, at least 1 and at most 4: the game's main thread keeps a core of its
/// own (on 2 cores, a second network thread costs the main thread more, through
/// preemption, than it saves: measured with tools/bench-engine.sh).
pub fn worker_threads() -> usize {
    let set = WORKER_THREADS.load(Ordering::Relaxed);
    if set > 0 {
        return set;
    }
    let from_env = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = from_env.filter(|n| *n > 0) {
        return n;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 4)
}

/// A handle to the runtime, creating it on first use.
pub fn handle() -> Handle {
    started().0
}

/// The runtime, and the signal that it is shutting down (set by [`shutdown`]).
pub(crate) fn started() -> (Handle, watch::Receiver<bool>) {
    let mut guard = RUNTIME.lock();
    let (runtime, going_away) = guard.get_or_insert_with(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("websocket-server")
            .enable_io()
            .enable_time()
            .build()
            .expect("cannot start the Tokio runtime of the WebSocket server");
        (runtime, watch::channel(false).0)
    });
    (runtime.handle().clone(), going_away.subscribe())
}

/// Whether the runtime is running.
pub fn is_running() -> bool {
    RUNTIME.lock().is_some()
}

/// Stops the runtime: every server stops listening and closes its clients with 1001
/// (going away), which get up to a second to finish the close handshake; then every
/// connection is dropped and the worker threads are joined (waiting at most two
/// seconds). The next [`handle`] starts a new one.
pub fn shutdown() {
    let taken = RUNTIME.lock().take();
    if let Some((runtime, going_away)) = taken {
        let _ = going_away.send(true);
        let deadline = Instant::now() + CLOSE_GRACE;
        while LIVE_CONNECTIONS.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

/// Counts a connection task as alive until dropped (see [`shutdown`]).
pub(crate) struct LiveConnection(());

impl LiveConnection {
    pub(crate) fn new() -> Self {
        LIVE_CONNECTIONS.fetch_add(1, Ordering::AcqRel);
        LiveConnection(())
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        LIVE_CONNECTIONS.fetch_sub(1, Ordering::AcqRel);
    }
}
