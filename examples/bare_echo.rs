//! The baseline for the benchmark: a bare tokio-tungstenite echo server with its
//! default settings, one task per connection, on the same number of worker threads
//! as the core's runtime.
//!
//! `cargo run --release --example bare_echo -- [PORT]` prints `listening on PORT`.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(9002, |p| p.parse().expect("usage: bare_echo [PORT]"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(godot_websocket_server::core::runtime::worker_threads())
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!("listening on {}", listener.local_addr().unwrap().port());
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}
