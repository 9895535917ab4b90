//! Plain HTTP requests on the server's own port (no upgrade): the health check for load
//! balancers and orchestrators, and the Prometheus metrics. Every other plain request
//! gets the upgrade's usual answer (426).

use std::fmt::Write;

use super::session::Session;
use super::stats::{Refused, Stats};

/// The answer to a plain GET of one of the configured paths, `None` for anything else.
pub(crate) fn respond(session: &Session, head: &[u8]) -> Option<Vec<u8>> {
    let settings = &session.settings;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    if req.method != Some("GET") {
        return None;
    }
    if req
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("upgrade"))
    {
        return None;
    }
    let path = req.path?.split('?').next()?;
    let health = settings.health_path();
    if !health.is_empty() && path == health.as_str() {
        let peers = session.counters.peers();
        return Some(if settings.draining() {
            response(
                503,
                "Service Unavailable",
                "text/plain; charset=utf-8",
                &format!("draining\npeers {peers}\n"),
            )
        } else {
            response(
                200,
                "OK",
                "text/plain; charset=utf-8",
                &format!("ok\npeers {peers}\n"),
            )
        });
    }
    let metrics = settings.metrics_path();
    if !metrics.is_empty() && path == metrics.as_str() {
        let mut stats = session.counters.snapshot();
        stats.peers = session.counters.peers();
        stats.handshakes = (session.limits.open() as u64).saturating_sub(stats.peers);
        return Some(response(
            200,
            "OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &prometheus(&stats),
        ));
    }
    None
}

/// The statistics in Prometheus' text exposition format: one family per figure, base
/// units, `_total` counters.
pub fn prometheus(stats: &Stats) -> String {
    let n = |v: u64| v as f64;
    // Name, type, help, value of every family without labels.
    let plain: [(&str, &str, &str, f64); 10] = [
        ("peers", "gauge", "Clients connected now.", n(stats.peers)),
        (
            "handshakes",
            "gauge",
            "Connections in TLS or upgrade now.",
            n(stats.handshakes),
        ),
        (
            "connections_accepted_total",
            "counter",
            "Connections that became peers.",
            n(stats.accepted),
        ),
        (
            "received_messages_total",
            "counter",
            "Messages received from clients.",
            n(stats.messages_in),
        ),
        (
            "received_bytes_total",
            "counter",
            "Message payload bytes received from clients.",
            n(stats.bytes_in),
        ),
        (
            "sent_messages_total",
            "counter",
            "Messages written to clients.",
            n(stats.messages_out),
        ),
        (
            "sent_bytes_total",
            "counter",
            "Message payload bytes written to clients.",
            n(stats.bytes_out),
        ),
        (
            "dropped_packets_total",
            "counter",
            "Unreliable packets dropped for congested clients.",
            n(stats.dropped),
        ),
        (
            "poll_seconds",
            "gauge",
            "Duration of the game's last poll().",
            stats.poll_last_ns as f64 / 1e9,
        ),
        (
            "poll_average_seconds",
            "gauge",
            "Mean duration of the game's poll() calls.",
            stats.poll_average_ns as f64 / 1e9,
        ),
    ];
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP websocket_server_{name} {help}");
        let _ = writeln!(out, "# TYPE websocket_server_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "websocket_server_{name}{labels} {value}");
        }
    };
    for (name, kind, help, value) in plain {
        family(name, kind, help, &[(String::new(), value)]);
    }
    let refused: Vec<(String, f64)> = Refused::ALL
        .iter()
        .map(|r| {
            (
                format!("{{reason=\"{}\"}}", r.name()),
                n(stats.refused_for(*r)),
            )
        })
        .collect();
    family(
        "connections_refused_total",
        "counter",
        "Connections that did not become peers, by reason.",
        &refused,
    );
    out
}

/// A complete HTTP/1.1 response that closes the connection.
pub(crate) fn response(status: u16, reason: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
