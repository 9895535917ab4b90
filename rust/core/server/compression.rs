//! Compression (permessage-deflate, RFC 7692): whether clients that offer it get it, and
//! from which message size.

use std::sync::atomic::Ordering;

use super::Server;

impl Server {
    /// Agrees permessage-deflate with every client that offers it (every browser, Python
    /// `websockets`, Node `ws`) at its upgrade, from now on; clients that do not offer it
    /// (Godot's own `WebSocketPeer`) go on uncompressed. Off by default.
    pub fn set_compression_enabled(&mut self, on: bool) {
        self.settings.set_compression(on);
    }

    /// See [`Server::set_compression_enabled`].
    pub fn compression_enabled(&self) -> bool {
        self.settings.compression()
    }

    /// Messages of at least this many bytes go compressed to clients that agreed to it;
    /// shorter ones go as they are. Applies at once.
    pub fn set_compression_threshold(&mut self, bytes: usize) {
        self.compression_threshold = bytes;
        if let Some(l) = &self.listening {
            l.shared
                .fanout
                .compression_threshold
                .store(bytes, Ordering::Relaxed);
        }
    }

    /// See [`Server::set_compression_threshold`].
    pub fn compression_threshold(&self) -> usize {
        self.compression_threshold
    }
}
