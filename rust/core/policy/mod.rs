//! Policy: who may connect and how much they may take. Buffer sizes and connection caps,
//! rate limits, browsers' origins and the game's decision on an upgrade, trusted proxies,
//! and the settings that can change while the server listens.

pub(crate) mod gate;
pub(crate) mod limits;
pub(crate) mod proxies;
pub(crate) mod rate;
pub(crate) mod settings;
