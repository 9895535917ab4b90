//! The wss line: the three servers with TLS (an RSA 2048 key, as Godot's `Crypto` makes
//! them; ours through `private_key` / `ssl_certificate`, Godot's multiplayer server with
//! `TLSOptions.server`, TCPServer + `StreamPeerTLS` + `WebSocketPeer`). Clients open wss
//! connections all at once (retrying those refused) for 20 s at most: the time until all
//! are open, the server's CPU per connection opened (failed attempts included), and its
//! memory per idle wss connection. Then 100 of them echo for `throughput_secs`, 16
//! messages of 64 bytes in flight each: echoes per second over wss (at most 1,600 per
//! frame, the headless default of at most 145 frames/s) and the server's CPU per echo.
//! `WSS_N` sets the number of clients.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;

use crate::{Plan, Ws, process::*, table::*};

/// An RSA 2048 key and a self-signed certificate for 127.0.0.1, made by openssl in `dir`.
pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        // An end-entity certificate (webpki refuses a CA as one).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (tools/setup-clients.sh installs it)");
    assert!(status.success());
    (key, cert)
}

pub(crate) fn client_config(cert: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Opens a wss connection (Godot's multiplayer server first sends the peer id).
async fn open_wss(url: &str, kind: &str, config: Arc<ClientConfig>) -> Option<Ws> {
    let connector = Connector::Rustls(config);
    let (mut ws, _) =
        match tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(connector))
            .await
        {
            Ok(ok) => ok,
            Err(e) => {
                if std::env::var_os("WSS_DEBUG").is_some() {
                    eprintln!("wss connect: {e}");
                }
                return None;
            }
        };
    if kind == "godot_mp" {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) if b.len() == 4 => {}
            _ => return None,
        }
    }
    Some(ws)
}

pub(crate) async fn line_wss(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    let n = std::env::var("WSS_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if plan.quick { 200 } else { 1000 });
    let dir = std::env::temp_dir().join(format!("gws-bench-wss-{}", std::process::id()));
    let (key, cert) = certificate(&dir);
    let config = client_config(&cert);
    let port = free_port();
    let args = [
        format!("--kind={kind}"),
        format!("--port={port}"),
        format!("--tls-key={}", key.display()),
        format!("--tls-cert={}", cert.display()),
    ];
    let process = start_script(godot, "res://bench/echo_server.gd", &args);
    let url = format!("wss://127.0.0.1:{port}/");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (base_rss, base_cpu) = (process.rss_kb(), process.cpu());
    let started = Instant::now();
    let deadline = started + plan.burst_wait.max(Duration::from_secs(20));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, config) = (url.clone(), config.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if let Some(ws) = open_wss(&url, kind, config.clone()).await {
                        return Some((ws, started.elapsed()));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            })
        })
        .collect();
    let mut open = Vec::new();
    let mut last = Duration::ZERO;
    for t in tasks {
        if let Ok(Some((ws, at))) = t.await {
            last = last.max(at);
            open.push(ws);
        }
    }
    let cpu_ms = (process.cpu() - base_cpu) * 1000.0 / open.len().max(1) as f64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_conn = process.rss_kb().saturating_sub(base_rss) as f64 / open.len().max(1) as f64;
    let opened = if open.len() == n {
        format!("{n} open in {:.2} s", last.as_secs_f64())
    } else {
        format!("{} of {n} open", open.len())
    };
    println!(
        "wss {n} {kind}: {opened}; {cpu_ms:.2} ms CPU per connection opened; {per_conn:.1} KB per idle connection"
    );
    let score = open.len() as f64 / n as f64 * 1000.0 + 1.0 / (last.as_secs_f64() + 0.001);
    table.add(
        &format!("wss: {n} connects at once"),
        kind,
        opened,
        score,
        true,
    );
    table.add(
        "wss: server CPU per connection opened (failed attempts included)",
        kind,
        format!("{cpu_ms:.2} ms"),
        cpu_ms,
        false,
    );
    table.add(
        "wss: memory per idle connection",
        kind,
        format!("{per_conn:.1} KB"),
        per_conn,
        false,
    );
    // Echo throughput over wss: 100 of the clients, 16 messages in flight each.
    let clients: Vec<Ws> = open.drain(..open.len().min(100)).collect();
    let echoes = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(1 + plan.throughput_secs);
    let loops: Vec<_> = clients
        .into_iter()
        .map(|ws| tokio::spawn(echo_loop(ws, stop, echoes.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (counted_from, cpu0) = (echoes.load(Ordering::Relaxed), process.cpu());
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(plan.throughput_secs)).await;
    let n = echoes.load(Ordering::Relaxed) - counted_from;
    let secs = measured.elapsed().as_secs_f64();
    let cpu_us = (process.cpu() - cpu0) * 1e6 / n.max(1) as f64;
    for l in loops {
        let _ = l.await;
    }
    let rate = n as f64 / secs;
    println!("wss echo {kind}: {rate:.0} echoes/s, server CPU {cpu_us:.2} µs per echo");
    table.add(
        "wss: echoes/s (100 clients, 16 in flight, 64 bytes; headless default frame sleep)",
        kind,
        format!("{rate:.0}"),
        rate,
        true,
    );
    table.add(
        "wss: server CPU µs per echo",
        kind,
        format!("{cpu_us:.2}"),
        cpu_us,
        false,
    );
    drop(open);
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One wss client of the echo throughput: 16 binary messages in flight, one more sent for
/// each echo, until `stop`.
async fn echo_loop(ws: Ws, stop: Instant, echoes: Arc<AtomicU64>) {
    let (mut tx, mut rx) = ws.split();
    let message = Message::binary(vec![7u8; 64]);
    for _ in 0..16 {
        if tx.feed(message.clone()).await.is_err() {
            return;
        }
    }
    if tx.flush().await.is_err() {
        return;
    }
    while Instant::now() < stop {
        match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
            Ok(Some(Ok(Message::Binary(_) | Message::Text(_)))) => {
                echoes.fetch_add(1, Ordering::Relaxed);
                if tx.send(message.clone()).await.is_err() {
                    return;
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return,
        }
    }
}
