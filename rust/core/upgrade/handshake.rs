//! The HTTP/1.1 upgrade request (RFC 6455 section 4.2), read and answered by hand so
//! that the path, query and headers survive and refusals get a proper HTTP status.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::core::observability::stats::Refused;
use crate::core::request::RequestInfo;

/// Largest upgrade request accepted, headers included (Godot's own cap is 4096 bytes;
/// browsers with cookies send more).
pub(crate) const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Most header lines accepted in an upgrade request.
const MAX_HEADERS: usize = 64;

/// Why an upgrade request was turned away, with the HTTP status to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub detail: String,
    /// How the statistics count it.
    pub why: Refused,
}

impl Refusal {
    pub(crate) fn new(status: u16, detail: impl Into<String>) -> Self {
        let mut body = detail.into();
        body.push('\n');
        Self::with_body(status, body)
    }

    /// A refusal whose body is exactly `body`.
    pub(crate) fn with_body(status: u16, body: String) -> Self {
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            409 => "Conflict",
            410 => "Gone",
            426 => "Upgrade Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Error",
        };
        Refusal {
            status,
            reason,
            detail: body,
            why: Refused::BadRequest,
        }
    }

    /// The same refusal, counted under `why`.
    pub(crate) fn because(mut self, why: Refused) -> Self {
        self.why = why;
        self
    }

    /// The full HTTP response for this refusal.
    pub fn response(&self) -> Vec<u8> {
        let extra = match self.status {
            405 => "Allow: GET\r\n",
            426 => "Sec-WebSocket-Version: 13\r\n",
            _ => "",
        };
        let body = &self.detail;
        format!(
            "HTTP/1.1 {} {}\r\n{extra}Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            self.status,
            self.reason,
            body.len()
        )
        .into_bytes()
    }
}

/// Why reading the request ended without a request to judge.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io,
    /// The client closed before the request ended.
    Eof,
    /// The request is not HTTP or too large: answer with this refusal.
    Refused(Refusal),
}

/// Reads one HTTP request head; returns the bytes and the length of the head.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Vec<u8>, usize), ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Eof);
        }
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf[searched_from..]) {
            return Ok((buf, searched_from + end));
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            return Err(ReadError::Refused(Refusal::new(
                431,
                format!("the upgrade request is larger than {MAX_REQUEST_BYTES} bytes"),
            )));
        }
        // A request line must start with a token: refuse garbage (TLS records
        // included) at once instead of waiting for the timeout.
        if !buf
            .iter()
            .take(16)
            .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\r' || *b == b'\n')
        {
            return Err(ReadError::Refused(Refusal::new(
                400,
                "this server speaks HTTP/1.1 WebSocket upgrade requests only (did a TLS client connect to a ws:// server?)",
            )));
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Checks an upgrade request head and selects the subprotocol.
pub(crate) fn check_request(head: &[u8], supported: &[String]) -> Result<RequestInfo, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Refusal::new(400, "incomplete HTTP request")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                431,
                format!("more than {MAX_HEADERS} header lines"),
            ));
        }
        Err(e) => return Err(Refusal::new(400, format!("malformed HTTP request: {e}"))),
    }
    if req.method != Some("GET") {
        return Err(Refusal::new(405, "a WebSocket upgrade must use GET"));
    }
    if req.version != Some(1) {
        return Err(Refusal::new(400, "a WebSocket upgrade needs HTTP/1.1"));
    }
    let path = req.path.unwrap_or("/").to_string();
    let mut list = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| Refusal::new(400, format!("header {} is not valid UTF-8", h.name)))?;
        list.push((h.name.to_string(), value.trim().to_string()));
    }
    let get = |name: &'static str| header_values(&list, name);
    let has_token = |name: &'static str, token: &str| {
        get(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token("Upgrade", "websocket") {
        return Err(Refusal::new(
            426,
            "this is a WebSocket server: send Upgrade: websocket",
        ));
    }
    if !has_token("Connection", "upgrade") {
        return Err(Refusal::new(400, "missing Connection: Upgrade"));
    }
    if get("Sec-WebSocket-Version").next() != Some("13") {
        return Err(Refusal::new(426, "only WebSocket version 13 is supported"));
    }
    let keys: Vec<&str> = get("Sec-WebSocket-Key").collect();
    if keys.len() != 1 || !is_valid_key(keys[0]) {
        return Err(Refusal::new(400, "missing or bad Sec-WebSocket-Key"));
    }
    let offered = offered_protocols(&list);
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    let protocol = select_protocol(&offered, supported).ok_or_else(|| {
        Refusal::new(
            400,
            format!(
                "no common subprotocol: client offered {offered:?}, server supports {supported:?}"
            ),
        )
        .because(Refused::Subprotocol)
    })?;
    Ok(RequestInfo {
        path,
        headers: list,
        protocol,
    })
}

fn header_values<'a>(list: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    list.iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Godot's subprotocol rule: the first protocol of the client's offer that the server
/// supports. No offer and no supported list gives `""`; an offer that matches none, or
/// no offer to a server that has a list, gives `None` (the client is refused).
pub fn select_protocol(offered: &[&str], supported: &[String]) -> Option<String> {
    if offered.is_empty() {
        return supported.is_empty().then(String::new);
    }
    offered
        .iter()
        .find(|o| supported.iter().any(|s| s == *o))
        .map(|s| s.to_string())
}

/// A Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters and "==".
fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22] == b'='
        && b[23] == b'='
        && b[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// The subprotocols a client offered, in its order.
pub(crate) fn offered_protocols(headers: &[(String, String)]) -> Vec<String> {
    header_values(headers, "Sec-WebSocket-Protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The 101 response for an accepted request (its key checked by [`check_request`]), with
/// extra headers chosen by the game (checked by `gate::check_accept`).
pub(crate) fn accept_response(request: &RequestInfo, extra: &[(String, String)]) -> Vec<u8> {
    let key = header_values(&request.headers, "Sec-WebSocket-Key")
        .next()
        .unwrap_or_default();
    let protocol = request.protocol.as_str();
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if !protocol.is_empty() {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(protocol);
        out.push_str("\r\n");
    }
    for (name, value) in extra {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn protocol_selection_follows_godot() {
        assert_eq!(
            select_protocol(&["b", "a"], &s(&["a", "b"])),
            Some("b".into())
        );
        assert_eq!(select_protocol(&["c"], &s(&["a"])), None);
        assert_eq!(select_protocol(&[], &s(&["a"])), None);
        assert_eq!(select_protocol(&[], &[]), Some(String::new()));
        assert_eq!(select_protocol(&["x"], &[]), None);
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub2!jZQ=="));
    }

    #[test]
    fn request_checks() {
        let ok = "GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: p1, p2\r\n\r\n";
        let info = check_request(ok.as_bytes(), &s(&["p2"])).unwrap();
        assert_eq!(info.path, "/chat?x=1");
        assert_eq!(info.protocol, "p2");
        assert!(info.headers.iter().any(|(n, v)| n == "Host" && v == "a"));
        let resp = String::from_utf8(accept_response(&info, &[])).unwrap();
        assert!(resp.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.contains("Sec-WebSocket-Protocol: p2\r\n"));
        let post = ok.replacen("GET", "POST", 1);
        assert_eq!(
            check_request(post.as_bytes(), &s(&["p2"]))
                .unwrap_err()
                .status,
            405
        );
        let v8 = ok.replace("Version: 13", "Version: 8");
        assert_eq!(
            check_request(v8.as_bytes(), &s(&["p2"]))
                .unwrap_err()
                .status,
            426
        );
        assert_eq!(
            check_request(ok.as_bytes(), &s(&["zz"]))
                .unwrap_err()
                .status,
            400
        );
    }
}
