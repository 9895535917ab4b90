//! The reconnection line (ours only: Godot's servers have nothing of the kind): 1,000
//! session clients (`reconnect_grace_period`) through a TCP relay that this process cuts.
//! First every connection is cut and the clients stay away for a few seconds: the main
//! thread's cost per frame while 1,000 peers are away, beside 1,000 connected idle ones, and
//! memory per away peer. Then every connection is cut again and the clients come back at
//! once: the time from the cut to the first message after the return, per client.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::relay::Relay;
use crate::{Plan, Ws, process::*, table::*};

/// One session client: its connection, peer id, secret and the count of messages
/// received.
struct Session {
    ws: Option<Ws>,
    id: String,
    secret: String,
    received: u64,
}

/// Opens `url` with the session's query, sending `hello` first for a return; the
/// connection and its welcome's JSON.
async fn dial(url: &str, hello: Option<Vec<u8>>) -> Option<(Ws, String)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    if let Some(hello) = hello {
        ws.send(Message::binary(hello)).await.ok()?;
    }
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) if b.starts_with(&[0, 2]) => {
            Some((ws, String::from_utf8_lossy(&b[2..]).into_owned()))
        }
        _ => None,
    }
}

/// The string value of `key` in a flat JSON object.
fn json_str(json: &str, key: &str) -> String {
    let at = json.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
    json[at..].split('"').next().unwrap().to_string()
}

/// The number value of `key` in a flat JSON object, as written.
fn json_number(json: &str, key: &str) -> String {
    let at = json.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    json[at..].split([',', '}']).next().unwrap().to_string()
}

impl Session {
    async fn open(url: &str) -> Option<Session> {
        let (ws, welcome) = dial(&format!("{url}?gws=2"), None).await?;
        Some(Session {
            ws: Some(ws),
            id: json_number(&welcome, "id"),
            secret: json_str(&welcome, "session"),
            received: 0,
        })
    }

    /// Waits until the connection is found broken.
    async fn broken(&mut self) {
        if let Some(ws) = &mut self.ws {
            while let Some(Ok(_)) = ws.next().await {}
        }
        self.ws = None;
    }

    /// The hello of a return: `00 03`, the secret's 16 bytes, the count received.
    fn hello(&self) -> Vec<u8> {
        let mut hello = vec![0u8, 3];
        for i in (0..self.secret.len()).step_by(2) {
            hello.push(u8::from_str_radix(&self.secret[i..i + 2], 16).unwrap());
        }
        hello.extend_from_slice(&self.received.to_le_bytes());
        hello
    }

    /// Comes back (retrying), sends one message and waits for its echo.
    async fn come_back_and_echo(&mut self, url: &str) -> bool {
        let query = format!("{url}?gws=2&gws_return={}", self.id);
        let deadline = Instant::now() + Duration::from_secs(25);
        let mut ws = loop {
            if let Some((mut ws, welcome)) = dial(&query, Some(self.hello())).await {
                if !welcome.contains("\"resumed\":true") {
                    return false;
                }
                // A new secret; the welcome acknowledged at once.
                self.secret = json_str(&welcome, "session");
                let mut ack = vec![0u8, 1];
                ack.extend_from_slice(&self.received.to_le_bytes());
                if ws.send(Message::binary(ack)).await.is_err() {
                    return false;
                }
                break ws;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if ws.send(Message::binary(b"back".to_vec())).await.is_err() {
            return false;
        }
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Binary(b) = &msg {
                if b.first() == Some(&0) {
                    continue; // acknowledgements
                }
                self.received += 1;
                self.ws = Some(ws);
                return true;
            }
        }
        false
    }
}

pub(crate) async fn line_reconnect(godot: &PathBuf, plan: &Plan, table: &mut Table) {
    let clients = if plan.quick { 200 } else { 1000 };
    let port = free_port();
    let process = start_script(
        godot,
        "res://bench/echo_server.gd",
        &[
            "--kind=ours".into(),
            format!("--port={port}"),
            "--grace=30".into(),
        ],
    );
    let direct = format!("ws://127.0.0.1:{port}/");
    let relay = Relay::start(port).await;
    let url = relay.url();
    let mut control = Control::new(&direct, "ours").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = process.rss_kb();
    let mut sessions = Vec::new();
    for _ in 0..clients {
        if let Some(s) = Session::open(&url).await {
            sessions.push(s);
        }
    }
    let n = sessions.len();
    let poll_us = |stats: std::collections::BTreeMap<String, f64>| {
        stats.get("poll_us").copied().unwrap_or(-1.0)
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    control.send("#reset").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected_poll = poll_us(control.stats().await);
    let connected_rss = process.rss_kb();

    // Everyone away for a while.
    relay.cut();
    futures_util::future::join_all(sessions.iter_mut().map(Session::broken)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    control.send("#reset").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let away_poll = poll_us(control.stats().await);
    let away_rss = process.rss_kb();
    let back =
        futures_util::future::join_all(sessions.iter_mut().map(|s| s.come_back_and_echo(&url)))
            .await;
    let returned = back.iter().filter(|b| **b).count();

    // Everyone cut once and back at once: from the cut to the first message after it.
    let t0 = Instant::now();
    relay.cut();
    let mut times: Vec<f64> = futures_util::future::join_all(sessions.iter_mut().map(|s| {
        let url = url.clone();
        async move {
            s.broken().await;
            s.come_back_and_echo(&url)
                .await
                .then(|| t0.elapsed().as_secs_f64() * 1000.0)
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let (p50, p99, max) = (pct(0.5), pct(0.99), *times.last().unwrap_or(&-1.0));
    let per_away = (away_rss.saturating_sub(base_rss)) as f64 / n.max(1) as f64;
    println!(
        "reconnect {n}: poll {connected_poll:.1} µs/frame connected, {away_poll:.1} away; \
         RSS +{:.1} KB per peer connected, +{per_away:.1} KB away; back {returned}/{n}, \
         cut to first message p50 {p50:.1} ms, p99 {p99:.1}, max {max:.1} ({} returned)",
        (connected_rss.saturating_sub(base_rss)) as f64 / n.max(1) as f64,
        times.len()
    );
    table.add(
        &format!("reconnect {n}: µs in poll() per frame, connected / away"),
        "ours",
        format!("{connected_poll:.1} / {away_poll:.1}"),
        away_poll,
        false,
    );
    table.add(
        &format!("reconnect {n}: memory per away peer (RSS)"),
        "ours",
        format!("{per_away:.1} KB"),
        per_away,
        false,
    );
    table.add(
        &format!("reconnect {n}, all cut at once: cut to first message p50 / p99"),
        "ours",
        format!("{p50:.0} / {p99:.0} ms ({} of {n} back)", times.len()),
        p99,
        false,
    );
}
