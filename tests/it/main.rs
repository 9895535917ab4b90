//! The integration tests, one program for every area (the crate is linked once, not once
//! per area): each module checks one part of the server over 127.0.0.1 with real clients
//! (Rust, Python, websocat, Node, Chromium, Godot) and real services (nginx, HAProxy,
//! Redis, Prometheus) that the tests start and stop themselves. The tests that need this
//! process to themselves are in `tests/alone`.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod bad_network;
mod book;
mod browser;
mod connection;
mod cuts;
mod demo;
mod deploy;
mod editor;
mod engine;
mod external_clients;
mod fanout;
mod gate;
mod godot3_client;
mod heartbeat;
mod limits;
mod metrics;
mod multiplayer;
mod peer;
mod platforms;
mod proxies;
mod rate;
mod reconnection;
mod reconnection_clients;
mod redis;
mod server;
mod slow_client;
mod tls;
mod tls_audit;
mod way_in;
