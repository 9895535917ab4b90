//! godot-websocket-server: Godot 3's `WebSocketServer` for Godot 4, on Tokio.
//!
//! - [`core`]: the engine-free server (Tokio, tokio-tungstenite, rustls). Nothing in it
//!   imports `godot`.
//! - [`godot`]: the thin GDExtension layer (`WebSocketServer`, `WebSocketServerPeer`).

pub mod core;
#[cfg(feature = "godot")]
pub mod godot;
