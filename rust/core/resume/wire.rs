//! The session protocol, version 1, as bytes.
//!
//! - The client asks at its upgrade with query parameters: `gws=1` for a session;
//!   `gws_session=<secret>&gws_received=<n>` as well to come back to one. The server
//!   removes them from the path the game sees.
//! - The server's first message is the welcome: a binary frame `00 02` followed by UTF-8
//!   JSON (`v`, `id`, `session`, `grace`, `resumed`, `received`). An empty `session` means
//!   no session was granted: the connection goes on as a plain WebSocket.
//! - With a session, a frame whose first byte is `00` is the protocol's: `00 00` + a game
//!   message that itself begins with a zero byte (the same frame type as the message),
//!   `00 01` + u64 little-endian: the number of game messages received so far (binary).
//!   Every other frame is a game message as it is. Other `00 xx` frames are ignored.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::core::ids::PeerId;

/// The protocol version this server speaks.
pub(crate) const VERSION: u32 = 1;
const ASK: &str = "gws";
const SESSION: &str = "gws_session";
const RECEIVED: &str = "gws_received";
/// The close code a session's connection gets when its client came back on another
/// one, which replaces it (the newer connection wins).
pub(crate) const CLOSE_REPLACED: u16 = 4001;
/// The first byte of a protocol frame.
const MARK: u8 = 0;
const KIND_DATA: u8 = 0;
const KIND_ACK: u8 = 1;
const KIND_WELCOME: u8 = 2;

/// A session's secret: 128 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Token([u8; 16]);

impl Token {
    /// A fresh secret from the system's secure random source.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        tokio_rustls::rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut bytes)
            .expect("the system's random source works");
        Token(bytes)
    }

    /// As it travels: 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A secret from its hex form; `None` when malformed.
    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Token(bytes))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)") // never in logs
    }
}

/// A client's request for a session, from its upgrade's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ask {
    /// The session to come back to and how many messages the client has received in it;
    /// `None` for a new session (also when the secret is malformed).
    pub resume: Option<(Token, u64)>,
}

/// Takes the session parameters out of a request's path: the path the game sees, and
/// the client's request if it made one.
pub(crate) fn take_ask(path: &str) -> (String, Option<Ask>) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_string(), None);
    };
    let (mut asked, mut token, mut received) = (false, None, None);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            ASK => asked = true,
            SESSION => token = Token::parse(value),
            RECEIVED => received = value.parse::<u64>().ok(),
            _ => kept.push(pair),
        }
    }
    if !asked {
        return (path.to_string(), None);
    }
    let path = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let resume = token.map(|t| (t, received.unwrap_or(0)));
    (path, Some(Ask { resume }))
}

/// What a frame of a session carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A game message.
    Data(Bytes),
    /// The peer has received this many game messages of the session.
    Ack(u64),
    /// A protocol frame this version does not use.
    Ignored,
}

/// Reads a frame of a session.
pub(crate) fn incoming(data: Bytes, is_text: bool) -> Incoming {
    if data.first() != Some(&MARK) {
        return Incoming::Data(data);
    }
    match data.get(1) {
        Some(&KIND_DATA) => Incoming::Data(data.slice(2..)),
        Some(&KIND_ACK) if !is_text && data.len() == 10 => {
            let count: [u8; 8] = data[2..10].try_into().expect("length checked");
            Incoming::Ack(u64::from_le_bytes(count))
        }
        _ => Incoming::Ignored,
    }
}

/// A game message as a session sends it: unchanged, or escaped when it begins with a
/// zero byte (`None`: send it as it is).
pub(crate) fn escape(data: &[u8]) -> Option<Bytes> {
    if data.first() != Some(&MARK) {
        return None;
    }
    let mut out = BytesMut::with_capacity(data.len() + 2);
    out.put_slice(&[MARK, KIND_DATA]);
    out.put_slice(data);
    Some(out.freeze())
}

/// Whether a message for a session (`session`) needs [`escape`].
pub(crate) fn escape_needed(session: bool, data: &[u8]) -> bool {
    session && data.first() == Some(&MARK)
}

/// An acknowledgement: `count` game messages received.
pub(crate) fn ack(count: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(10);
    out.put_slice(&[MARK, KIND_ACK]);
    out.put_u64_le(count);
    out.freeze()
}

/// What the welcome tells the client.
pub(crate) struct Welcome {
    pub id: PeerId,
    /// `None`: no session (plain WebSocket from here on).
    pub token: Option<Token>,
    pub grace: Duration,
    /// The same session as before (else a new one, with a new id).
    pub resumed: bool,
    /// Game messages of the session the server has received.
    pub received: u64,
}

/// The welcome frame's payload (a binary frame).
pub(crate) fn welcome(w: &Welcome) -> Bytes {
    let json = format!(
        "{{\"v\":{VERSION},\"id\":{},\"session\":\"{}\",\"grace\":{},\"resumed\":{},\"received\":{}}}",
        w.id,
        w.token.map(Token::to_hex).unwrap_or_default(),
        w.grace.as_secs_f64(),
        w.resumed,
        w.received
    );
    let mut out = BytesMut::with_capacity(json.len() + 2);
    out.put_slice(&[MARK, KIND_WELCOME]);
    out.put_slice(json.as_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_parameters_are_taken_out_of_the_path() {
        assert_eq!(take_ask("/play?room=3"), ("/play?room=3".into(), None));
        assert_eq!(
            take_ask("/play?room=3&gws=1"),
            ("/play?room=3".into(), Some(Ask { resume: None }))
        );
        let t = Token::random();
        let path = format!("/?gws=1&gws_session={}&gws_received=42&x=y", t.to_hex());
        assert_eq!(
            take_ask(&path),
            (
                "/?x=y".into(),
                Some(Ask {
                    resume: Some((t, 42))
                })
            )
        );
        // A malformed secret asks for a new session.
        assert_eq!(
            take_ask("/?gws=1&gws_session=zz"),
            ("/".into(), Some(Ask { resume: None }))
        );
    }

    #[test]
    fn secrets_round_trip_and_differ() {
        let (a, b) = (Token::random(), Token::random());
        assert_ne!(a, b);
        assert_eq!(Token::parse(&a.to_hex()), Some(a));
        assert_eq!(Token::parse("0123"), None);
        assert_eq!(Token::parse(&"g".repeat(32)), None);
    }

    #[test]
    fn frames_are_told_apart() {
        let plain = Bytes::from_static(b"{\"x\":1}");
        assert_eq!(incoming(plain.clone(), true), Incoming::Data(plain));
        assert_eq!(incoming(Bytes::new(), false), Incoming::Data(Bytes::new()));
        let zero = Bytes::from_static(&[0, 7, 7]);
        let escaped = escape(&zero).unwrap();
        assert_eq!(incoming(escaped, false), Incoming::Data(zero));
        assert_eq!(escape(b"abc"), None);
        assert_eq!(incoming(ack(300), false), Incoming::Ack(300));
        assert_eq!(incoming(ack(300), true), Incoming::Ignored);
        assert_eq!(
            incoming(Bytes::from_static(&[0, 9]), false),
            Incoming::Ignored
        );
        assert_eq!(incoming(Bytes::from_static(&[0]), false), Incoming::Ignored);
    }
}
