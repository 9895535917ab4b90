//! wss://: the key and certificates of the properties turned into the core's TLS
//! settings, at listen() and again whenever they change while listening.

use super::WebSocketServer;
use crate::godot::errors;
use crate::godot::tls::TlsParts;

impl WebSocketServer {
    pub(super) fn tls_parts(&self) -> TlsParts {
        TlsParts {
            private_key: self.private_key.clone(),
            ssl_certificate: self.ssl_certificate.clone(),
            ca_chain: self.ca_chain.clone(),
            tls_options: self.tls_options.clone(),
        }
    }

    /// While listening, a new key and certificate apply to new connections at once.
    /// Parts that do not fit together yet are tried again at the next poll().
    pub(super) fn renew_tls(&mut self) {
        if !self.server.is_listening() {
            return;
        }
        match self.tls_parts().config() {
            Ok(tls) => {
                self.configure("ssl_certificate", Ok(tls), |s, t| s.connections.tls = t);
                self.tls_pending = false;
            }
            Err(_) => self.tls_pending = true,
        }
    }

    /// Called by poll(): applies pending TLS parts or says why they cannot be used.
    pub(super) fn finish_tls_renewal(&mut self) {
        if !self.tls_pending {
            return;
        }
        self.tls_pending = false;
        match self.tls_parts().config() {
            Ok(tls) => {
                self.configure("ssl_certificate", Ok(tls), |s, t| s.connections.tls = t);
            }
            Err(e) => {
                errors::report(
                    "WebSocketServer: the new TLS settings are not used (the previous ones stay)",
                    &e,
                );
            }
        }
    }
}
