//! Who gets in: the browsers' Origin rule, and the game's decision on each upgrade
//! request (accept with a subprotocol and extra response headers, or refuse with an HTTP
//! status and body).

use std::net::SocketAddr;

use crate::core::error::Error;
use crate::core::ids::PeerId;

/// An upgrade request waiting for the game's decision, as the game sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The id the client gets as a peer if accepted.
    pub id: PeerId,
    /// Path and query as sent, e.g. `/play?token=abc`.
    pub path: String,
    /// Every header, names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The client's address (as `trusted_proxies` resolves it).
    pub remote: SocketAddr,
    /// The subprotocols the client offered, in its order.
    pub offered: Vec<String>,
    /// The subprotocol Godot's rule selected ("" for none).
    pub protocol: String,
    /// A client coming back to its session (`reconnect_grace_period`): the id of the
    /// peer it returns as (accepted, it is that peer again and `id` is not used).
    pub returning: Option<PeerId>,
}

impl UpgradeRequest {
    /// The client's IP address as text (IPv4-mapped IPv6 addresses shown as IPv4).
    pub fn remote_ip(&self) -> String {
        self.remote.ip().to_canonical().to_string()
    }

    /// The query string's parameters, percent-decoded (`+` as a space), in order.
    pub fn query(&self) -> Vec<(String, String)> {
        parse_query(self.path.split_once('?').map_or("", |(_, q)| q))
    }
}

/// The game's answer to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept {
        protocol: String,
        headers: Vec<(String, String)>,
    },
    Refuse {
        status: u16,
        body: String,
    },
}

/// Longest body of a refusal chosen by the game.
pub const MAX_REFUSAL_BODY: usize = 4096;

/// Checks an acceptance: the protocol (if any) must be one the client offered, and the
/// extra headers must be valid and not ones the upgrade itself sets.
pub(crate) fn check_accept(
    request_offered: &[String],
    protocol: &str,
    headers: &[(String, String)],
) -> Result<(), Error> {
    if !protocol.is_empty() && !request_offered.iter().any(|p| p == protocol) {
        return Err(Error::InvalidParameter(format!(
            "protocol \"{protocol}\" was not offered by the client (it offered {request_offered:?}); pass \"\" to keep the one selected"
        )));
    }
    for (name, value) in headers {
        if !is_token(name) {
            return Err(Error::InvalidParameter(format!(
                "response header name \"{name}\" is not a valid HTTP token"
            )));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::InvalidParameter(format!(
                "response header {name}: the value must not contain line breaks or NUL"
            )));
        }
        let lower = name.to_ascii_lowercase();
        if [
            "upgrade",
            "connection",
            "content-length",
            "transfer-encoding",
        ]
        .contains(&lower.as_str())
            || lower.starts_with("sec-websocket-")
        {
            return Err(Error::InvalidParameter(format!(
                "response header {name} is set by the upgrade itself; choose the subprotocol with the protocol argument"
            )));
        }
    }
    Ok(())
}

/// Checks a refusal: a status from 400 to 599 and a short body.
pub(crate) fn check_refuse(status: i64, body: &str) -> Result<u16, Error> {
    if !(400..=599).contains(&status) {
        return Err(Error::InvalidParameter(format!(
            "status {status} cannot refuse an upgrade; use 400-599 (401 unauthorized, 403 forbidden, 429 too many requests, 503 unavailable)"
        )));
    }
    if body.len() > MAX_REFUSAL_BODY {
        return Err(Error::InvalidParameter(format!(
            "the body is {} bytes; at most {MAX_REFUSAL_BODY} bytes",
            body.len()
        )));
    }
    Ok(status as u16)
}

/// One entry of `allowed_origins`: an exact origin, or one with a wildcard first label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginRule {
    Exact(String),
    /// `scheme://*.rest`: `prefix` is `scheme://`, `suffix` is `.rest` (port included).
    Wildcard {
        prefix: String,
        suffix: String,
    },
}

impl OriginRule {
    /// Parses `https://game.example.com`, `http://localhost:8060` or `https://*.example.com`.
    pub fn parse(entry: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::InvalidParameter(format!(
                "allowed_origins entry \"{entry}\" {why}; use e.g. \"https://game.example.com\" or \"https://*.example.com\""
            ))
        };
        let e = entry.trim().to_ascii_lowercase();
        let (scheme, rest) = e.split_once("://").ok_or_else(|| bad("has no scheme"))?;
        if scheme.is_empty() || rest.is_empty() || rest.contains('/') {
            return Err(bad("is not scheme://host[:port]"));
        }
        if let Some(after) = rest.strip_prefix("*.") {
            if after.is_empty() || after.contains('*') {
                return Err(bad("has a wildcard without a domain"));
            }
            return Ok(OriginRule::Wildcard {
                prefix: format!("{scheme}://"),
                suffix: format!(".{after}"),
            });
        }
        if rest.contains('*') {
            return Err(bad("may only have a wildcard as its first label"));
        }
        Ok(OriginRule::Exact(e))
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            OriginRule::Exact(o) => o == origin,
            OriginRule::Wildcard { prefix, suffix } => origin
                .strip_prefix(prefix.as_str())
                .and_then(|host| host.strip_suffix(suffix.as_str()))
                .is_some_and(|label| !label.is_empty() && !label.contains(['.', ':', '/'])),
        }
    }
}

/// Whether a request with this `Origin` header may upgrade: always without rules or
/// without the header (native clients send none, and can send anything: this is no
/// authentication).
pub(crate) fn origin_allowed(rules: &[OriginRule], origin: Option<&str>) -> bool {
    match origin {
        _ if rules.is_empty() => true,
        None => true,
        Some(o) => {
            let o = o.trim().to_ascii_lowercase();
            rules.iter().any(|r| r.matches(&o))
        }
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(entries: &[&str]) -> Vec<OriginRule> {
        entries
            .iter()
            .map(|e| OriginRule::parse(e).unwrap())
            .collect()
    }

    #[test]
    fn origins_exact_and_one_wildcard_label() {
        let r = rules(&[
            "https://game.example.com",
            "https://*.example.org",
            "http://localhost:8060",
        ]);
        assert!(origin_allowed(&r, Some("https://game.example.com")));
        assert!(origin_allowed(&r, Some("HTTPS://Game.Example.com")));
        assert!(!origin_allowed(&r, Some("http://game.example.com")));
        assert!(!origin_allowed(&r, Some("https://game.example.com:8443")));
        assert!(origin_allowed(&r, Some("https://a.example.org")));
        assert!(!origin_allowed(&r, Some("https://a.b.example.org")));
        assert!(!origin_allowed(&r, Some("https://example.org")));
        assert!(!origin_allowed(&r, Some("https://evilexample.org")));
        assert!(origin_allowed(&r, Some("http://localhost:8060")));
        assert!(!origin_allowed(&r, Some("null")));
        assert!(origin_allowed(&r, None), "no Origin: a native client");
        assert!(origin_allowed(&[], Some("https://anything")));
        for bad in [
            "game.example.com",
            "https://",
            "https://a.*.com",
            "https://*.",
            "https://x/path",
        ] {
            assert!(OriginRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_is_parsed_and_decoded() {
        let req = UpgradeRequest {
            id: 2,
            path: "/play?token=a%2Bb&name=J%C3%BCrgen+X&flag&bad=%zz&cut=%4".into(),
            headers: vec![],
            remote: "127.0.0.1:1".parse().unwrap(),
            offered: vec![],
            protocol: String::new(),
            returning: None,
        };
        assert_eq!(
            req.query(),
            [
                ("token".into(), "a+b".into()),
                ("name".into(), "Jürgen X".into()),
                ("flag".into(), String::new()),
                ("bad".into(), "%zz".into()),
                ("cut".into(), "%4".into()),
            ]
        );
    }

    #[test]
    fn decisions_are_checked() {
        let offered = vec!["chat".to_string()];
        assert!(check_accept(&offered, "", &[]).is_ok());
        assert!(check_accept(&offered, "chat", &[("Set-Cookie".into(), "a=b".into())]).is_ok());
        assert!(check_accept(&offered, "json", &[]).is_err());
        assert!(check_accept(&offered, "", &[("Bad Name".into(), "x".into())]).is_err());
        assert!(check_accept(&offered, "", &[("X".into(), "a\r\nb".into())]).is_err());
        assert!(
            check_accept(&offered, "", &[("Sec-WebSocket-Accept".into(), "x".into())]).is_err()
        );
        assert_eq!(check_refuse(401, "no").unwrap(), 401);
        assert!(check_refuse(200, "").is_err());
        assert!(check_refuse(600, "").is_err());
        assert!(check_refuse(403, &"x".repeat(MAX_REFUSAL_BODY + 1)).is_err());
    }
}
