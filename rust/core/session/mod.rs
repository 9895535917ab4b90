//! Sessions that survive a broken connection: a client that asks for one at its upgrade
//! and comes back within the grace period (`reconnect_grace_period`) is the same peer
//! again, and no message is lost or doubled either way.
//!
//! - [`wire`]: the protocol between the client helpers and the server (the book's
//!   docs/src/reconnection.md is its reference): the request's query parameters, the welcome, the
//!   hello, the acknowledgements, the keepalive and the escape that keeps them apart from
//!   the game's messages.
//! - [`state`]: what the server keeps for one session: its secret, the messages the
//!   client has not acknowledged, the count of messages received, and the slot through
//!   which a returning connection is handed to the peer's task.
//! - [`registry`]: the live sessions of a server, by peer id.

pub(crate) mod registry;
pub(crate) mod state;
pub(crate) mod wire;

pub(crate) use registry::Registry;
pub(crate) use state::{Returning, Session};
pub(crate) use wire::{Ask, Token};
