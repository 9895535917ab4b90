//! The lines measured against plain WebSocket clients: burst of connects, idle clients,
//! closed-loop throughput, latency, fan-out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

use crate::{Plan, Ws, capture::WireCapture, process::*, table::*};

pub(crate) async fn line_burst(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
) {
    for &n in &plan.bursts {
        let server = start_server(godot, kind, None);
        let (open, last) = burst(&server.url, kind, n, plan.burst_wait).await;
        let text = if open.len() == n {
            format!("{n} open in {:.2} s", last.as_secs_f64())
        } else {
            format!(
                "{} open after {:.0} s",
                open.len(),
                plan.burst_wait.as_secs_f64()
            )
        };
        println!("burst {n} {kind}: {text}");
        // Ranked by the share opened, then by the time (faster is better).
        let score = open.len() as f64 / n as f64 * 1000.0 + 1.0 / (last.as_secs_f64() + 0.001);
        table.add(
            &format!("burst: {n} connects at once"),
            kind,
            text,
            score,
            true,
        );
    }
}

pub(crate) async fn line_idle(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    let server = start_server(godot, kind, None);
    let mut control = Control::new(&server.url, kind).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = server.process.rss_kb();
    let mut conns: Vec<Ws> = Vec::new();
    for &level in &plan.idle_levels {
        let missing = level.saturating_sub(conns.len());
        let mut more = connect_n(&server.url, kind, missing, plan.idle_wait).await;
        conns.append(&mut more);
        let reached = conns.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        control.send("#reset").await;
        let cpu0 = server.process.cpu();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats = control.stats().await;
        let cpu = (server.process.cpu() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
        let poll = stats.get("poll_us").copied().unwrap_or(-1.0);
        let rss_per = (server.process.rss_kb().saturating_sub(base_rss)) as f64 * 1024.0
            / reached.max(1) as f64;
        let note = if reached < level {
            format!(" ({reached} reached)")
        } else {
            String::new()
        };
        println!(
            "idle {level} {kind}: poll {poll:.1} µs/frame, CPU {cpu:.1}%, {:.1} KB per connection{note}",
            rss_per / 1024.0
        );
        table.add(
            &format!("idle {level}: µs in poll() per frame"),
            kind,
            format!("{poll:.1}{note}"),
            poll,
            false,
        );
        table.add(
            &format!("idle {level}: server CPU"),
            kind,
            format!("{cpu:.1}%"),
            cpu.max(0.01),
            false,
        );
        if level == *plan.idle_levels.last().unwrap() || level == 1000 {
            table.add(
                &format!("idle {level}: memory per connection"),
                kind,
                format!("{:.1} KB", rss_per / 1024.0),
                rss_per,
                false,
            );
        }
    }
    drop(conns);
}

/// One client of the throughput line, as lean as a client can be so that the servers, not
/// the load, are what is measured: `in_flight` masked 64-byte frames prepared once, and for
/// each echo read, one frame written back; all frames read in one go are answered with one
/// write. Counts echoes until `stop`.
pub(crate) async fn closed_loop(ws: Ws, in_flight: usize, stop: Instant, echoes: Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let MaybeTlsStream::Plain(tcp) = ws.into_inner() else {
        return;
    };
    // FIN + binary, masked, 64 bytes; mask key 0 (the payload goes as it is).
    let mut frame = vec![0x82, 0x80 | 64, 0, 0, 0, 0];
    frame.extend_from_slice(&[7u8; 64]);
    let (mut rx, mut tx) = tcp.into_split();
    if tx.write_all(&frame.repeat(in_flight)).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let (mut filled, mut out) = (0usize, Vec::new());
    while Instant::now() < stop {
        let n =
            match tokio::time::timeout(Duration::from_secs(5), rx.read(&mut buf[filled..])).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
        filled += n;
        // Whole server frames (unmasked): count the data frames, answer each.
        let mut at = 0;
        let mut got = 0u64;
        while filled - at >= 2 {
            let (len, head) = match buf[at + 1] & 0x7f {
                126 if filled - at >= 4 => {
                    (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4)
                }
                127 if filled - at >= 10 => (
                    u64::from_be_bytes(buf[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                l => (l as usize, 2),
            };
            if filled - at < head + len {
                break;
            }
            if buf[at] & 0x0f == 0x2 {
                got += 1;
            }
            at += head + len;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if got > 0 {
            echoes.fetch_add(got, Ordering::Relaxed);
            out.clear();
            for _ in 0..got {
                out.extend_from_slice(&frame);
            }
            if tx.write_all(&out).await.is_err() {
                break;
            }
        }
    }
}

/// The closed-loop echo. At the headless default the engine sleeps between frames (at
/// most 145 frames/s); a server that echoes everything in flight in every frame is then
/// bound by that (1,600 in flight x 145 = 232,000 echoes/s). `unpaced`: the frame sleep is
/// 0 for the server, so that what it can do is measured.
pub(crate) async fn line_throughput(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    unpaced: bool,
) {
    let server = start_paced_server(godot, kind, None, unpaced.then_some(0));
    let mut control = Control::new(&server.url, kind).await;
    let conns = connect_n(&server.url, kind, 100, plan.connect_wait).await;
    let echoes = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(1 + plan.throughput_secs);
    let measure_from = Instant::now() + Duration::from_secs(1);
    let counted_from = Arc::new(AtomicU64::new(0));
    let cpu0 = Arc::new(Mutex::new(None::<(f64, Instant)>));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(closed_loop(ws, 16, stop, echoes.clone())))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    control.send("#reset").await;
    counted_from.store(echoes.load(Ordering::Relaxed), Ordering::Relaxed);
    *cpu0.lock() = Some((server.process.cpu(), Instant::now()));
    tokio::time::sleep(Duration::from_secs(plan.throughput_secs)).await;
    let n = echoes.load(Ordering::Relaxed) - counted_from.load(Ordering::Relaxed);
    let frames = control.stats().await;
    let (c0, t0) = cpu0.lock().unwrap();
    let cpu = (server.process.cpu() - c0) / t0.elapsed().as_secs_f64() * 100.0;
    for t in tasks {
        let _ = t.await;
    }
    let rate = n as f64 / plan.throughput_secs as f64;
    let secs = plan.throughput_secs as f64;
    let cpu_per_echo = cpu / 100.0 * secs * 1e6 / n.max(1) as f64;
    let main_per_echo = frames.get("process_us").copied().unwrap_or(0.0)
        * frames.get("frames").copied().unwrap_or(0.0)
        / n.max(1) as f64;
    let fps = frames.get("frames").copied().unwrap_or(0.0) / secs;
    let pacing = if unpaced {
        "frame sleep 0"
    } else {
        "headless default frame sleep"
    };
    println!(
        "throughput {kind} ({pacing}): {rate:.0} echoes/s, server CPU {cpu:.0}% ({cpu_per_echo:.2} µs per echo, {main_per_echo:.2} µs of it on the main thread); {fps:.0} frames/s, {:.0} echoes per frame",
        rate / fps.max(1.0)
    );
    if !unpaced {
        table.add(
            "throughput: echoes/s (100 clients, 16 in flight; headless default frame sleep, at most 145 frames/s)",
            kind,
            format!("{rate:.0} ({fps:.0} frames/s)"),
            rate,
            true,
        );
        return;
    }
    table.add(
        "throughput: echoes/s (100 clients, 16 in flight; frame sleep 0; server and load client share the cores)",
        kind,
        format!("{rate:.0} ({cpu:.0}% CPU)"),
        rate,
        true,
    );
    table.add(
        "throughput: server CPU µs per echo (frame sleep 0)",
        kind,
        format!("{cpu_per_echo:.2}"),
        cpu_per_echo,
        false,
    );
    table.add(
        "throughput: main-thread µs per echo (frame sleep 0)",
        kind,
        format!("{main_per_echo:.2}"),
        main_per_echo,
        false,
    );
}

pub(crate) async fn line_latency(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    fps: Option<u32>,
    split_cores: bool,
) {
    let hops_file = (plan.hops && kind == "ours").then(|| {
        let path = std::env::temp_dir().join(format!(
            "gws-hops-{}-{fps:?}-{split_cores}.tsv",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        *HOPS_FILE.lock() = Some(path);
        path
    });
    let server = start_server(godot, kind, fps);
    *HOPS_FILE.lock() = None;
    // The clients' view, and what the server adds at the wire: from the last byte of a
    // message in to the first byte of its answer out (a loopback capture).
    let Variant {
        server_kind,
        column,
        note,
        ..
    } = variant(kind);
    let conns = connect_n(
        &server.url,
        server_kind,
        plan.latency_clients,
        plan.connect_wait,
    )
    .await;
    let reached = conns.len();
    let port: u16 = server
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap();
    let capture = WireCapture::start(port, plan.latency_secs);
    // Split: every thread of the server on core 0, this process (the clients) on core 1,
    // given back every core afterwards.
    let all_cores = format!(
        "0-{}",
        std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
    );
    let split = split_cores && pin(server.process.pid(), "0") && pin(std::process::id(), "1");
    if split_cores && !split {
        println!("latency {kind}: taskset failed; the cores are not split");
    }
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let origin = Instant::now();
    let stop = origin + Duration::from_secs(1 + plan.latency_secs);
    let measure_from = origin + Duration::from_secs(1);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let hist = hist.clone();
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let reader = tokio::spawn(async move {
                    while let Ok(Some(Ok(m))) =
                        tokio::time::timeout(Duration::from_secs(5), rx.next()).await
                    {
                        if let Message::Binary(b) = m
                            && b.len() == 16
                        {
                            let sent = u64::from_le_bytes(b[..8].try_into().unwrap());
                            let now = origin.elapsed().as_micros() as u64;
                            if origin + Duration::from_micros(sent) >= measure_from {
                                let _ = hist.lock().record(now.saturating_sub(sent));
                            }
                        }
                    }
                });
                // 10 messages a second, each client at its own phase.
                tokio::time::sleep(Duration::from_micros((i as u64 * 997) % 100_000)).await;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while Instant::now() < stop {
                    tick.tick().await;
                    let mut m = (origin.elapsed().as_micros() as u64).to_le_bytes().to_vec();
                    m.extend([0u8; 8]);
                    if tx.send(Message::binary(m)).await.is_err() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                reader.abort();
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    if split {
        pin(std::process::id(), &all_cores);
    }
    let h = hist.lock();
    let (p50, p99) = (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    );
    let label = fps.map_or("default fps".to_string(), |f| format!("{f} fps"))
        + if split {
            ", server and clients on a core each"
        } else {
            ""
        };
    println!(
        "latency {kind} at {label}: {reached} clients, p50 {p50:.2} ms, p99 {p99:.2} ms ({} samples)",
        h.len()
    );
    let line = format!(
        "latency at {label}: RTT p50 / p99 ms ({} clients x 10/s){note}",
        plan.latency_clients
    );
    table.add(
        &format!("{line} p50"),
        column,
        format!("{p50:.2}"),
        p50,
        false,
    );
    table.add(
        &format!("{line} p99"),
        column,
        format!("{p99:.2}"),
        p99,
        false,
    );
    let summary = capture.and_then(WireCapture::summary);
    if let Some(file) = hops_file {
        let wire_mean = summary.map(|(mean, _, _)| mean);
        crate::hops::print_breakdown(Path::new(file), &format!("{kind} at {label}"), wire_mean);
    }
    match summary {
        Some((mean, p99, n)) => {
            println!(
                "latency {kind} at {label}: at the wire, message in to answer out: mean {mean:.2} ms, p99 {p99:.2} ms ({n} messages)"
            );
            let line = format!("latency at {label}: at the wire, in to out, ms{note}");
            for (what, v) in [("mean", mean), ("p99", p99)] {
                table.add(
                    &format!("{line} {what}"),
                    column,
                    format!("{v:.2}"),
                    v,
                    false,
                );
            }
        }
        _ => println!(
            "latency {kind}: no loopback capture (it needs dumpcap and tshark, from Debian's tshark package, and root)"
        ),
    }
}

pub(crate) async fn line_fanout(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    clients: usize,
    secs: u64,
) {
    let server = start_server(godot, kind, None);
    let mut control = Control::new(&server.url, kind).await;
    let conns = connect_n(&server.url, kind, clients, plan.connect_wait).await;
    let reached = conns.len();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let received = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut ws| {
            let hist = hist.clone();
            let received = received.clone();
            tokio::spawn(async move {
                while let Ok(Some(Ok(m))) =
                    tokio::time::timeout(Duration::from_secs(3), ws.next()).await
                {
                    if let Message::Binary(b) = m
                        && b.len() == 1024
                    {
                        let sent = f64::from_le_bytes(b[..8].try_into().unwrap());
                        let _ = hist.lock().record((now_micros() - sent).max(0.0) as u64);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    control.send("#reset").await;
    // How long the main thread waited for a CPU while broadcasting (the load client and
    // the network threads share the two cores with it).
    let (_, wait1) = server.process.main_thread_ns();
    let (user0, kernel0) = server.process.cpu_split();
    let t0 = Instant::now();
    control.send(&format!("#fanout 60 {secs} 1024")).await;
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(200)).await;
    let window = t0.elapsed().as_secs_f64();
    let (user1, kernel1) = server.process.cpu_split();
    let (user, kernel) = (
        (user1 - user0) / window * 100.0,
        (kernel1 - kernel0) / window * 100.0,
    );
    let cpu = user + kernel;
    let (_, wait2) = server.process.main_thread_ns();
    let stats = control.stats().await;
    for t in tasks {
        let _ = t.await;
    }
    let sends = stats.get("broadcasts").copied().unwrap_or(0.0);
    let per_send = stats.get("broadcast_us_p50").copied().unwrap_or(-1.0);
    let waited = (wait2 - wait1) as f64 / window / 1e7;
    let got = received.load(Ordering::Relaxed);
    let expected = sends as usize * reached;
    let h = hist.lock();
    let (p50, p99) = (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    );
    println!(
        "fan-out {kind}: {reached} clients, {sends} broadcasts of 1 KB, {per_send:.1} µs main thread each (it waited for a CPU {waited:.1}% of the time), {got} of {expected} delivered ({:.0}/s), server CPU {cpu:.0}% ({user:.0}% user, {kernel:.0}% kernel), p50 {p50:.2} ms p99 {p99:.2} ms",
        got as f64 / secs as f64
    );
    let line = format!("fan-out to {clients} clients, 60 Hz x 1 KB");
    table.add(
        &format!("{line}: main-thread µs per broadcast (median)"),
        kind,
        format!("{per_send:.1}"),
        per_send,
        false,
    );
    table.add(
        &format!("{line}: server CPU"),
        kind,
        format!("{cpu:.0}%"),
        cpu,
        false,
    );
    table.add(
        &format!("{line}: server CPU in user space"),
        kind,
        format!("{user:.0}%"),
        user,
        false,
    );
    table.add(
        &format!("{line}: delivered"),
        kind,
        format!("{got} of {expected}"),
        got as f64 / expected.max(1) as f64,
        true,
    );
    table.add(
        &format!("{line}: send to receipt p50 / p99 ms"),
        kind,
        format!("{p50:.2} / {p99:.2}"),
        p99,
        false,
    );
}
