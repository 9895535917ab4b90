//! The network threads every server of the process shares: how many a new runtime gets.

use godot::prelude::*;

use super::WebSocketServer;

#[godot_api(secondary)]
impl WebSocketServer {
    /// Sets how many background threads do the network work of every server in this
    /// process (0: the default, one less than the number of cores, at least 1 and at most 4,
    /// so that the game's main thread keeps a core). Takes effect when the first
    /// server starts listening; the environment variable
    /// `GODOT_WEBSOCKET_SERVER_THREADS` does the same without code.
    #[func]
    fn set_worker_threads(count: i64) {
        if !(0..=256).contains(&count) {
            godot_error!(
                "WebSocketServer.set_worker_threads: {count} is out of range; use 0 (default) to 256"
            );
            return;
        }
        if crate::core::runtime::is_running() {
            godot_warn!(
                "WebSocketServer.set_worker_threads: the network threads are already running; the new count applies after a restart of the game"
            );
        }
        crate::core::runtime::set_worker_threads(count as usize);
    }

    /// The number of network threads a new runtime gets (see [method set_worker_threads]).
    #[func]
    fn get_worker_threads() -> i64 {
        crate::core::runtime::worker_threads() as i64
    }
}
