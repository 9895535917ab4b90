//! Where a message's time in our server goes (`--hops`): the per-message timestamps ours
//! records with `GODOT_WEBSOCKET_SERVER_HOPS` (rust/core/observability/hops.rs), read
//! back after the latency line, one row per hop, beside the residence the capture saw.

use std::path::Path;

/// The hops between the stamps `read pushed taken got sent written`.
const HOPS: [&str; 5] = [
    "read -> queued for the game (network thread)",
    "queued -> taken by poll() (waits for the frame)",
    "taken -> the game's get_packet() (signals before it)",
    "get_packet() -> send() (the GDScript handler)",
    "send() -> written to the socket (send task)",
];

/// Prints the breakdown: each hop's mean, p50 and p99 in µs, the whole stay from read to
/// written, and what is left of the residence at the wire (`wire_mean_ms`): the time
/// before the network thread read the message and after the write.
pub(crate) fn print_breakdown(file: &Path, label: &str, wire_mean_ms: Option<f64>) {
    // The server appends every 200 ms.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let rows: Vec<[u64; 6]> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<u64> = l.split('\t').filter_map(|f| f.parse().ok()).collect();
            v.try_into().ok()
        })
        .collect();
    if rows.is_empty() {
        println!("hops {label}: no timestamps recorded in {}", file.display());
        return;
    }
    let stats = |f: &dyn Fn(&[u64; 6]) -> u64| {
        let mut v: Vec<f64> = rows.iter().map(|r| f(r) as f64 / 1000.0).collect();
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (
            mean,
            v[v.len() / 2],
            v[(v.len() * 99 / 100).min(v.len() - 1)],
        )
    };
    println!(
        "hops {label}: {} answered messages, µs mean / p50 / p99",
        rows.len()
    );
    for (i, hop) in HOPS.iter().enumerate() {
        let (mean, p50, p99) = stats(&|r| r[i + 1].saturating_sub(r[i]));
        println!("  {hop}: {mean:.0} / {p50:.0} / {p99:.0}");
    }
    let (inside, p50, p99) = stats(&|r| r[5].saturating_sub(r[0]));
    println!("  read -> written, in all: {inside:.0} / {p50:.0} / {p99:.0}");
    if let Some(wire) = wire_mean_ms {
        println!(
            "  the rest of the residence at the wire (before the read, after the write): {:.0} mean",
            wire * 1000.0 - inside
        );
    }
    let _ = std::fs::remove_file(file);
}
