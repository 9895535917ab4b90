//! permessage-deflate negotiation (RFC 7692 section 7.1): the client's offers in
//! `Sec-WebSocket-Extensions`, and the answer. The server always answers with no context
//! takeover both ways, so that no connection keeps a compressor or a decompressor between
//! messages, and it never names a parameter the client's offer did not allow.

/// The extension's name (RFC 7692 section 7).
const NAME: &str = "permessage-deflate";

/// What was agreed with a client for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The LZ77 window the server's compressor may use, in bits (8 to 15): 15 unless the
    /// client asked for less with `server_max_window_bits`.
    pub server_window: u8,
}

/// The first offer of permessage-deflate in `headers` that is valid, and the value of the
/// `Sec-WebSocket-Extensions` header that accepts it. `None`: no compression (no offer,
/// or only offers that break RFC 7692, which are declined, not refused).
pub(crate) fn negotiate(headers: &[(String, String)]) -> Option<(Agreed, String)> {
    let offers = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
        .flat_map(|(_, v)| split_outside_quotes(v, ','));
    offers.into_iter().find_map(|offer| accept(&offer))
}

/// Accepts one offer (`permessage-deflate; param; param=value`) if it is valid.
fn accept(offer: &str) -> Option<(Agreed, String)> {
    let mut parts = split_outside_quotes(offer, ';').into_iter();
    if !parts.next()?.trim().eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut server_window = None;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (param.trim(), None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None; // RFC 7692 7.1: a parameter given twice declines the offer
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("server_max_window_bits", Some(v)) => server_window = Some(window_bits(v)?),
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(v)) => {
                window_bits(v)?;
            }
            _ => return None, // an unknown parameter or a wrong value
        }
        seen.push(name);
    }
    let mut answer = format!("{NAME}; server_no_context_takeover; client_no_context_takeover");
    if let Some(bits) = server_window {
        answer.push_str(&format!("; server_max_window_bits={bits}"));
    }
    let agreed = Agreed {
        server_window: server_window.unwrap_or(15),
    };
    Some((agreed, answer))
}

/// A window size parameter: a decimal integer from 8 to 15 without leading zeros.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || value.starts_with('0') {
        return None;
    }
    let bits: u8 = value.parse().ok()?;
    (8..=15).contains(&bits).then_some(bits)
}

/// A parameter value, without the quotes of a quoted string (RFC 7692 7.1: `"10"` = `10`).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(value),
    }
}

/// Splits at `sep` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("one part at least").push(c);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &str) -> Option<(Agreed, String)> {
        negotiate(&[("sec-websocket-extensions".into(), value.into())])
    }

    const PLAIN: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn browsers_offer_is_accepted_without_context_takeover() {
        // What Chromium, Firefox and Node `ws` send.
        let (agreed, answer) = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(agreed.server_window, 15);
        assert_eq!(
            answer, PLAIN,
            "no client_max_window_bits the client did not need"
        );
        let (_, answer) = offer("permessage-deflate").unwrap();
        assert_eq!(answer, PLAIN);
    }

    #[test]
    fn a_smaller_server_window_is_honoured_and_echoed() {
        let (agreed, answer) =
            offer("permessage-deflate; server_max_window_bits=\"10\"; server_no_context_takeover")
                .unwrap();
        assert_eq!(agreed.server_window, 10);
        assert_eq!(answer, format!("{PLAIN}; server_max_window_bits=10"));
    }

    #[test]
    fn invalid_offers_are_declined_and_the_next_one_taken() {
        assert_eq!(offer("x-webkit-deflate-frame"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits=08"), None);
        assert_eq!(
            offer("permessage-deflate; client_no_context_takeover=1"),
            None
        );
        assert_eq!(offer("permessage-deflate; foo"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None
        );
        let (agreed, _) = offer(
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=9",
        )
        .unwrap();
        assert_eq!(agreed.server_window, 9);
        assert_eq!(negotiate(&[]), None);
    }
}
