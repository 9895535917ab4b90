//! Plain HTTP requests on the server's own port (no upgrade): the health check for load
//! balancers and orchestrators, and the Prometheus metrics. Every other plain request
//! gets the upgrade's usual answer (426).

use crate::core::observability::StatsSource;
use crate::core::observability::metrics::prometheus;
use crate::core::policy::settings::LiveSettings;
use crate::core::server_shared::ServerShared;

/// The answer to a plain GET of one of the configured paths, `None` for anything else.
pub(crate) fn respond(shared: &ServerShared, live: &LiveSettings, head: &[u8]) -> Option<Vec<u8>> {
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
    let health = &live.health_check_path;
    if !health.is_empty() && path == health.as_str() {
        let peers = shared.counters.peers();
        return Some(if shared.draining() {
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
    let metrics = &live.metrics_path;
    if !metrics.is_empty() && path == metrics.as_str() {
        let stats = StatsSource::new(shared.counters.clone(), shared.limits.clone()).snapshot();
        return Some(response(
            200,
            "OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &prometheus(&stats),
        ));
    }
    None
}

/// A complete HTTP/1.1 response that closes the connection.
pub(crate) fn response(status: u16, reason: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
