//! The session protocol, version 2, as bytes. The secret never travels in a URL nor in
//! an HTTP header: it goes in frames only, and a new one comes with every return.
//!
//! - The client asks at its upgrade with query parameters: `gws=2` for a session, and
//!   `gws_return=<id>` as well to come back as peer `<id>` (not a secret: it tells the
//!   game and the connection limits who claims to return). The server removes them from
//!   the path the game sees.
//! - A returning client's first frame is its hello: binary, `00 03` + the secret (16
//!   bytes) + the number of game messages it has received in the session (u64 little
//!   endian).
//! - The server's first message is the welcome: a binary frame `00 02` followed by UTF-8
//!   JSON (`v`, `id`, `session`, `grace`, `resumed`, `received`, `keepalive`). An empty
//!   `session` means no session was granted: the connection goes on as a plain WebSocket.
//! - With a session, a frame whose first byte is `00` is the protocol's: `00 00` + a game
//!   message that itself begins with a zero byte (the same frame type as the message),
//!   `00 01` + u64 little-endian: the number of game messages received so far (binary),
//!   `00 04`: the server's keepalive. Every other frame is a game message as it is. Other
//!   `00 xx` frames are ignored.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::core::ids::PeerId;

/// The protocol version this server speaks.
pub(crate) const VERSION: u32 = 2;
const ASK: &str = "gws";
const RETURN: &str = "gws_return";
/// The close code a session's connection gets when its client came back on another
/// one, which replaces it (the newer connection wins).
pub(crate) const CLOSE_REPLACED: u16 = 4001;
/// The close code of a return that cannot be taken (the session is gone, the secret or
/// the count is wrong, no hello came); the session itself is untouched.
pub(crate) const CLOSE_NOT_RESUMED: u16 = 4002;
/// The first byte of a protocol frame.
const MARK: u8 = 0;
const KIND_DATA: u8 = 0;
const KIND_ACK: u8 = 1;
const KIND_WELCOME: u8 = 2;
const KIND_HELLO: u8 = 3;
const KIND_KEEPALIVE: u8 = 4;

/// A session's secret: 128 random bits.
#[derive(Clone, Copy, PartialEq, Eq)]
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

    /// A secret from its 16 bytes, as a hello carries it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Token(bytes.try_into().ok()?))
    }

    /// Whether `other` is this secret, compared in constant time (`subtle`).
    pub fn matches(&self, other: &Token) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }

    /// A secret from its hex form; `None` when malformed.
    #[cfg(test)]
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
    /// The peer the client says it returns as (its hello proves it); `None` for a new
    /// session (also when the id is malformed).
    pub returning: Option<PeerId>,
}

/// Takes the session parameters out of a request's path: the path the game sees, and
/// the client's request if it made one (`gws=2`; another version asks for nothing).
pub(crate) fn take_ask(path: &str) -> (String, Option<Ask>) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_string(), None);
    };
    let (mut asked, mut returning) = (false, None);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            ASK => asked = value == VERSION.to_string(),
            RETURN => returning = value.parse::<PeerId>().ok().filter(|id| *id > 1),
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
    (path, Some(Ask { returning }))
}

/// A returning client's hello: the secret it holds and the game messages of the session
/// it has received; `None` when the frame is not a well-formed hello.
pub(crate) fn hello(data: &[u8], is_text: bool) -> Option<(Token, u64)> {
    match data {
        [MARK, KIND_HELLO, secret @ .., _, _, _, _, _, _, _, _]
            if !is_text && secret.len() == 16 =>
        {
            let count: [u8; 8] = data[18..26].try_into().ok()?;
            Some((Token::from_bytes(secret)?, u64::from_le_bytes(count)))
        }
        _ => None,
    }
}

/// A hello frame's payload (binary), as the clients write it.
#[cfg(test)]
pub(crate) fn hello_frame(token: &Token, received: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(26);
    out.put_slice(&[MARK, KIND_HELLO]);
    out.put_slice(&token.0);
    out.put_u64_le(received);
    out.freeze()
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

/// The server's keepalive, sent on a session's connection every `keepalive` seconds (the
/// welcome says how many), so that a client sees a silent link as dead.
pub(crate) fn keepalive() -> Bytes {
    Bytes::from_static(&[MARK, KIND_KEEPALIVE])
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
    /// How often the server sends its keepalive on this connection.
    pub keepalive: Duration,
}

/// The welcome frame's payload (a binary frame).
pub(crate) fn welcome(w: &Welcome) -> Bytes {
    let json = format!(
        "{{\"v\":{VERSION},\"id\":{},\"session\":\"{}\",\"grace\":{},\"resumed\":{},\"received\":{},\"keepalive\":{}}}",
        w.id,
        w.token.map(Token::to_hex).unwrap_or_default(),
        w.grace.as_secs_f64(),
        w.resumed,
        w.received,
        w.keepalive.as_secs_f64()
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
            take_ask("/play?room=3&gws=2"),
            ("/play?room=3".into(), Some(Ask { returning: None }))
        );
        assert_eq!(
            take_ask("/?gws=2&gws_return=42&x=y"),
            (
                "/?x=y".into(),
                Some(Ask {
                    returning: Some(42)
                })
            )
        );
        // Another version asks for nothing; a malformed id asks for a new session.
        assert_eq!(take_ask("/?gws=1").1, None);
        assert_eq!(
            take_ask("/?gws=2&gws_return=zz"),
            ("/".into(), Some(Ask { returning: None }))
        );
    }

    #[test]
    fn hellos_are_read_exactly() {
        let t = Token::random();
        let frame = hello_frame(&t, 42);
        assert_eq!(frame.len(), 26);
        assert_eq!(hello(&frame, false), Some((t, 42)));
        assert_eq!(hello(&frame, true), None, "binary only");
        assert_eq!(hello(&frame[..25], false), None);
        assert_eq!(hello(&[frame.as_ref(), &[0]].concat(), false), None);
        assert_eq!(hello(&ack(3), false), None);
        assert!(t.matches(&t) && !t.matches(&Token::random()));
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
