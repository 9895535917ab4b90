//! permessage-deflate (RFC 7692): the negotiation at the upgrade, compressing outgoing
//! messages and inflating incoming ones. Without context takeover either way, so an idle
//! connection keeps no compression state, and a broadcast's compressed bytes are the same
//! for every recipient.

pub(crate) mod deflate;
pub(crate) mod inflate;
pub(crate) mod negotiation;

pub(crate) use deflate::{Deflated, deflate};
pub(crate) use negotiation::{Agreed, negotiate};
