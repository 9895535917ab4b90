//! The engine-free WebSocket server core.
//!
//! Nothing in this module tree imports `godot`: it is plain Rust on Tokio, so it can be
//! tested and benchmarked without an engine. The Godot classes in [`crate::godot`] are
//! thin wrappers over [`Server`] and [`Peer`].
//!
//! How it works:
//! - A process-wide Tokio runtime ([`runtime`]) accepts connections, runs TLS and the
//!   HTTP upgrade, and reads and writes every socket.
//! - Each connection task pushes what happened into its server's shared event
//!   queue. [`Server::poll`] swaps that queue out on the caller's thread and never
//!   waits on the network: its cost depends on the number of events, not of peers.
//! - Sending from the caller's thread only queues the message (buffer limits are checked
//!   at once: [`SendError`]). One task per server takes the sends and broadcasts in
//!   order and writes each frame for an idle plain socket itself (`direct`), or hands it
//!   to the connection's task.

#![warn(missing_docs)]

mod compression;
mod connection;
mod error;
mod fanout;
#[doc(hidden)]
pub mod fuzzing;
mod ids;
pub mod multiplayer;
mod observability;
mod peer;
mod policy;
mod request;
pub mod runtime;
mod server;
mod server_shared;
mod session;
mod socket;
mod upgrade;

pub use error::{Error, SendError};
pub use fanout::Missed;
pub use fanout::redis_bridge::RedisEvent;
pub use ids::PeerId;
#[cfg(feature = "godot")]
pub(crate) use ids::{IdMap, IdSet};
pub use observability::StatsSource;
pub use observability::metrics::prometheus;
pub use observability::stats::{Refused, Stats};
pub use peer::{Message, Peer, ReadyState};
pub use policy::gate::UpgradeRequest;
pub use policy::limits::{Buffers, LimitRefusal};
pub use policy::settings::{
    AllowedOrigins, ConnectionSettings, DEFAULT_COMPRESSION_THRESHOLD,
    DEFAULT_UNRELIABLE_THRESHOLD, ListenSettings, LiveSettings, Settings, TrustedProxies,
};
pub use request::Headers;
pub use server::{Event, MultiplayerPacket, Server};
pub use socket::tls::TlsConfig;
pub use upgrade::handshake::select_protocol;
