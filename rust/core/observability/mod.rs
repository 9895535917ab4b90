//! Observability: what the server counts and how it is read (statistics, Prometheus
//! metrics).

pub(crate) mod hops;
pub(crate) mod metrics;
pub(crate) mod stats;

pub use metrics::StatsSource;
