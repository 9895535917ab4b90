//! The socket under a connection: plain or TLS, with writes from any thread for an idle
//! plain socket (frames never split) and reads served in bursts.

pub(crate) mod direct;
pub(crate) mod inflating;
pub(crate) mod read_ahead;
pub(crate) mod stream;
pub(crate) mod tls;
pub(crate) mod tls_stream;
pub(crate) mod unsent;
