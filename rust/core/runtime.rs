//! The one process-wide Tokio runtime that does all network I/O.
//!
//! It is created on first use and lives until [`shutdown`], which joins its threads.
//! The Godot layer calls [`shutdown`] when the library is unloaded, so that editor hot
//! reload never unloads code that a worker thread still runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
static WORKER_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Environment variable that overrides the number of worker threads.
pub const THREADS_ENV: &str = "GODOT_WEBSOCKET_SERVER_THREADS";

/// Sets the number of worker threads for the runtime created next (0 = the default).
/// A runtime that is already running keeps its threads.
pub fn set_worker_threads(count: usize) {
    WORKER_THREADS.store(count, Ordering::Relaxed);
}

/// The number of worker threads a new runtime gets: the value set with
/// [`set_worker_threads`], else `GODOT_WEBSOCKET_SERVER_THREADS`, else the number of
/// cores, at most 4 (a game server's main thread needs a core of its own).
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
        .map_or(2, |n| n.get())
        .clamp(1, 4)
}

/// A handle to the runtime, creating it on first use.
pub fn handle() -> Handle {
    let mut guard = RUNTIME.lock();
    guard
        .get_or_insert_with(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("websocket-server")
                .enable_io()
                .enable_time()
                .build()
                .expect("cannot start the Tokio runtime of the WebSocket server")
        })
        .handle()
        .clone()
}

/// Whether the runtime is running.
pub fn is_running() -> bool {
    RUNTIME.lock().is_some()
}

/// Stops the runtime: every connection is dropped and the worker threads are joined
/// (waiting at most two seconds). The next [`handle`] starts a new one.
pub fn shutdown() {
    let runtime = RUNTIME.lock().take();
    if let Some(runtime) = runtime {
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}
