//! The engine-free WebSocket server core.
//!
//! Nothing in this module tree imports `godot`: it is plain Rust on Tokio, so it can be
//! tested and benchmarked without an engine. The Godot classes in [`crate::godot`] are
//! thin wrappers over [`Server`] and [`Peer`].
//!
//! How it works:
//! - A process-wide Tokio runtime ([`runtime`]) accepts connections, runs TLS and the
//!   HTTP upgrade, and reads and writes every socket.
//! - Each connection task pushes what happened into its listening session's event
//!   queue. [`Server::poll`] swaps that queue out on the caller's thread and never
//!   waits on the network: its cost depends on the number of events, not of peers.
//! - Sending from the caller's thread only queues the message (buffer limits are checked
//!   at once: [`SendError`]). One task per server takes the sends and broadcasts in
//!   order and writes each frame for an idle plain socket itself (`direct`), or hands it
//!   to the connection's task.

mod connection;
mod direct;
pub mod endpoints;
mod error;
mod fanout;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod handshake;
mod headers;
mod heartbeat;
mod ids;
mod limits;
pub mod multiplayer;
mod opening;
mod peer;
mod proxies;
mod proxy_protocol;
mod rate;
mod read_ahead;
mod redis_bridge;
pub mod runtime;
mod server;
mod session;
mod settings;
mod stats;
mod stream;
mod tls;

pub use endpoints::prometheus;
pub use error::{Error, SendError};
pub use fanout::Missed;
pub use gate::UpgradeRequest;
pub use handshake::select_protocol;
pub use headers::Headers;
pub(crate) use ids::IdMap;
pub use ids::PeerId;
pub use limits::{Buffers, LimitRefusal};
pub use peer::{Message, Peer, ReadyState};
pub use redis_bridge::RedisEvent;
pub use server::{Event, MultiplayerPacket, Server, StatsSource};
pub use stats::{Refused, Stats};
pub use tls::TlsConfig;
