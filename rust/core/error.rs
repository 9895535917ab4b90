//! Errors of the server core. The Godot layer maps each one onto a Godot `Error` code.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::core::ids::PeerId;

/// Why a server operation failed.
#[derive(Debug)]
pub enum Error {
    /// `listen()` while already listening (Godot: `ERR_ALREADY_IN_USE`).
    AlreadyListening,
    /// The operation needs a listening server (Godot: `ERR_UNCONFIGURED`).
    NotListening,
    /// The bind address is not an IP address nor `"*"` (Godot: `ERR_INVALID_PARAMETER`).
    InvalidAddress(String),
    /// Binding or listening failed, e.g. the port is in use (Godot: `ERR_CANT_CREATE`).
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// An argument is out of range (Godot: `ERR_INVALID_PARAMETER`).
    InvalidParameter(String),
    /// The key or certificate cannot be used (Godot: `ERR_INVALID_PARAMETER`).
    Tls(String),
    /// Settings that can only change while the server is stopped (Godot: `FAILED`).
    Busy(String),
    /// No peer with that id (Godot: `ERR_DOES_NOT_EXIST`).
    UnknownPeer(PeerId),
    /// No upgrade request with that id waits for a decision (Godot: `ERR_DOES_NOT_EXIST`).
    UnknownRequest(PeerId),
    /// The upgrade request was decided already (Godot: `ERR_ALREADY_IN_USE`).
    AlreadyDecided(PeerId),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyListening => {
                write!(
                    f,
                    "the server is already listening; call stop() before listen() again"
                )
            }
            Error::NotListening => write!(f, "the server is not listening; call listen() first"),
            Error::InvalidAddress(a) => write!(
                f,
                "bind_ip \"{a}\" is not an IP address; use \"*\" for every interface, or e.g. \"127.0.0.1\" or \"::1\""
            ),
            Error::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source} (is another program using this port? pick another port, or 0 for any free one)"
            ),
            Error::InvalidParameter(m) => write!(f, "{m}"),
            Error::Tls(m) => write!(f, "{m}"),
            Error::Busy(m) => write!(f, "{m}"),
            Error::UnknownPeer(id) => write!(f, "no peer with id {id} is connected to this server"),
            Error::UnknownRequest(id) => write!(
                f,
                "no upgrade request {id} is waiting for a decision (it timed out after handshake_timeout, the client left, or the id is wrong)"
            ),
            Error::AlreadyDecided(id) => write!(
                f,
                "upgrade request {id} was already decided; decide each request once"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Why a message could not be queued for sending. Nothing was queued in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closing or closed.
    Closed,
    /// The message is larger than the whole outbound buffer.
    TooLarge {
        /// Message size in bytes.
        len: usize,
        /// Outbound buffer size in bytes.
        limit: usize,
    },
    /// The outbound buffer (bytes or packets) is full; try again after the peer read.
    BufferFull {
        /// Bytes queued now.
        queued_bytes: usize,
        /// Packets queued now.
        queued_packets: usize,
    },
    /// A text message that is not valid UTF-8.
    InvalidUtf8,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => write!(f, "the connection is closing or closed"),
            SendError::TooLarge { len, limit } => write!(
                f,
                "message of {len} bytes is larger than the outbound buffer ({limit} bytes); raise it with set_buffers() or split the message"
            ),
            SendError::BufferFull {
                queued_bytes,
                queued_packets,
            } => write!(
                f,
                "outbound buffer full ({queued_bytes} bytes in {queued_packets} packets queued): the peer is not reading fast enough; retry later or raise set_buffers()"
            ),
            SendError::InvalidUtf8 => {
                write!(
                    f,
                    "text messages must be valid UTF-8; use binary write mode for raw bytes"
                )
            }
        }
    }
}

impl std::error::Error for SendError {}
