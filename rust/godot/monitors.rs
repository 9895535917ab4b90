//! The server's figures as Godot's custom performance monitors, so the editor's debugger
//! (Monitors tab) graphs them while the game runs. They cost nothing until the debugger
//! asks for them (about once a second).

use std::time::Instant;

use godot::classes::Performance;
use godot::prelude::*;

use crate::core::StatsSource;

/// The monitors of one server, removed when dropped.
pub struct Monitors {
    prefix: String,
    names: Vec<StringName>,
}

impl Monitors {
    /// Registers the monitors under the first free prefix: `websocket_server`, then
    /// `websocket_server_2` ... for further servers in the same process.
    pub fn register(stats: StatsSource) -> Monitors {
        let mut performance = Performance::singleton();
        let mut prefix = "websocket_server".to_string();
        let mut n = 1;
        while performance.has_custom_monitor(&StringName::from(&format!("{prefix}/peers"))) {
            n += 1;
            prefix = format!("websocket_server_{n}");
        }
        let mut names = Vec::new();
        let mut add = |name: &str, callable: Callable| {
            let id = StringName::from(&format!("{prefix}/{name}"));
            performance.add_custom_monitor(&id, &callable);
            names.push(id);
        };
        let s = stats.clone();
        add(
            "peers",
            Callable::from_fn("peers", move |_| s.snapshot().peers as i64),
        );
        let s = stats.clone();
        add(
            "handshakes",
            Callable::from_fn("handshakes", move |_| s.snapshot().handshakes as i64),
        );
        add("bytes_in_per_second", rate(stats.clone(), |s| s.bytes_in));
        add("bytes_out_per_second", rate(stats.clone(), |s| s.bytes_out));
        add(
            "messages_in_per_second",
            rate(stats.clone(), |s| s.messages_in),
        );
        add(
            "messages_out_per_second",
            rate(stats.clone(), |s| s.messages_out),
        );
        let s = stats;
        add(
            "poll_usec",
            Callable::from_fn("poll_usec", move |_| {
                s.snapshot().poll_last_ns as f64 / 1000.0
            }),
        );
        Monitors { prefix, names }
    }

    /// The prefix of this server's monitor names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// A monitor of a counter's rate per second since the previous reading.
fn rate(stats: StatsSource, figure: fn(&crate::core::Stats) -> u64) -> Callable {
    let mut last = (Instant::now(), figure(&stats.snapshot()));
    Callable::from_fn("rate", move |_| {
        let now = (Instant::now(), figure(&stats.snapshot()));
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let per_second = if secs > 0.0 {
            now.1.saturating_sub(last.1) as f64 / secs
        } else {
            0.0
        };
        last = now;
        per_second
    })
}

impl Drop for Monitors {
    fn drop(&mut self) {
        let mut performance = Performance::singleton();
        for id in &self.names {
            if performance.has_custom_monitor(id) {
                performance.remove_custom_monitor(id);
            }
        }
    }
}
