//! The way in: from an accepted TCP connection to an upgraded WebSocket, or a refusal.
//! PROXY protocol, TLS, the HTTP upgrade, who gets in, and the plain HTTP endpoints that
//! share the port.

pub(crate) mod endpoints;
pub(crate) mod handshake;
pub(crate) mod opening;
pub(crate) mod proxy_protocol;
