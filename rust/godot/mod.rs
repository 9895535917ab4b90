//! The thin layer that talks to Godot: type conversion, signals and error reporting.
//! All logic lives in [`crate::core`].
//!
//! The doc comments here are the editor's help: they use Godot's markup (`[ClassName]`,
//! `[method name]`, `[member name]`), which gdext turns into links in the editor and
//! rustdoc cannot resolve.
#![allow(rustdoc::broken_intra_doc_links)]

mod editor_help;
mod errors;
mod monitors;
mod raw_packet;
mod request;
mod tls;
mod websocket_server;
mod websocket_server_peer;

pub use websocket_server::WebSocketServer;
pub use websocket_server_peer::WebSocketServerPeer;

use godot::init::{ExtensionLibrary, InitStage, gdextension};

/// The GDExtension entry point (`gdext_rust_init`).
struct WebSocketServerExtension;

// SAFETY: required by gdext for the entry point; one ExtensionLibrary per library.
#[gdextension]
unsafe impl ExtensionLibrary for WebSocketServerExtension {
    /// Joins the network threads before the library can be unloaded (hot reload).
    fn on_stage_deinit(stage: InitStage) {
        if matches!(stage, InitStage::MainLoop | InitStage::Scene) {
            crate::core::runtime::shutdown();
        }
    }
}
