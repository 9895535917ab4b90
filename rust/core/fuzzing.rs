//! Entry points for the fuzz targets (`fuzz/`): internal pieces driven with arbitrary
//! bytes, with the invariants they must keep. Not part of the API.

use crate::core::way_in::handshake::{self, ReadError};

/// The HTTP upgrade request reader and checker on arbitrary bytes: never panics; an
/// accepted request selects a protocol the server supports and gets a valid 101; a
/// refused one gets a well-formed HTTP error response.
pub fn upgrade_request(data: &[u8]) {
    let supported = ["chat".to_string(), "json".to_string()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut reader = data;
    let read = runtime.block_on(handshake::read_request(&mut reader));
    let checked = match read {
        Ok((buf, head_len)) => {
            assert!(head_len <= buf.len());
            assert!(buf[..head_len].ends_with(b"\r\n\r\n"));
            for list in [&supported[..], &[]] {
                check(&buf[..head_len], list);
            }
            true
        }
        Err(ReadError::Refused(refusal)) => {
            well_formed(&refusal.response(), refusal.status);
            false
        }
        Err(ReadError::Eof | ReadError::Io) => false,
    };
    // The checker alone, on the raw bytes (it sees what the reader would not hand over).
    if !checked {
        check(data, &supported);
    }
}

fn check(head: &[u8], supported: &[String]) {
    match handshake::check_request(head, supported) {
        Ok(request) => {
            assert!(
                request.protocol.is_empty() && supported.is_empty()
                    || supported.contains(&request.protocol),
                "selected {:?} from {supported:?}",
                request.protocol
            );
            let response = handshake::accept_response(&request, &[]);
            assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(response.ends_with(b"\r\n\r\n"));
        }
        Err(refusal) => well_formed(&refusal.response(), refusal.status),
    }
}

/// An HTTP error response whose Content-Length matches its body.
fn well_formed(response: &[u8], status: u16) {
    assert!((400..600).contains(&status), "status {status}");
    let text = std::str::from_utf8(response).expect("responses are UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")));
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("a Content-Length");
    assert_eq!(length, body.len());
    assert!(!head.contains('\0'));
}

/// permessage-deflate's inflation on arbitrary bytes, fed in pieces whose sizes come from
/// the input, read by the frame reader as a server reads a client: never panics nor loops;
/// at most one inflated fragment is waiting at any time, whatever the input inflates to;
/// every message handed over is within the reader's limit.
pub fn compressed_frames(data: &[u8]) {
    use std::io::{Cursor, Read, Write};

    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

    use crate::core::compression::inflate::{CHUNK, Transcoder};

    /// The rewritten bytes to read; writes (pongs, closes) go nowhere.
    struct Rewritten(Cursor<Vec<u8>>);
    impl Read for Rewritten {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }
    impl Write for Rewritten {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const LIMIT: usize = 64 * 1024;
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut transcoder = Transcoder::new(Vec::new(), LIMIT);
    let mut rewritten = Vec::new();
    'feeding: for chunk in input.chunks(piece) {
        transcoder.feed(chunk);
        loop {
            if transcoder.process().is_err() {
                break 'feeding; // invalid data (1007) or too many compressed bytes (1009)
            }
            let waiting = transcoder.output().len();
            assert!(waiting <= CHUNK + 14, "{waiting} bytes waiting at once");
            if waiting == 0 {
                break;
            }
            rewritten.extend_from_slice(transcoder.output());
            transcoder.take(waiting);
            if rewritten.len() > 4 * LIMIT {
                break 'feeding; // the reader refuses the message before this
            }
        }
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT));
    let stream = Rewritten(Cursor::new(rewritten));
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
    while let Ok(message) = ws.read() {
        assert!(message.len() <= LIMIT, "a message over the limit");
    }
}

/// The TLS record layer after the handshake (`socket::lean_tls::records`) on a stream
/// made from arbitrary bytes: pieces are either sealed as records of a chosen type (each
/// byte-exact after opening) or raw bytes, in every record format. Never panics; every
/// record sealed before the first raw piece opens to what was sealed, in order; nothing
/// opens after a record that failed.
pub fn tls_records(data: &[u8]) {
    use tokio_rustls::rustls::ConnectionTrafficSecrets;
    use tokio_rustls::rustls::crypto::cipher::{AeadKey, Iv};

    use crate::core::socket::lean_tls::records::{self, Keys, Version};

    let Some((&choice, mut rest)) = data.split_first() else {
        return;
    };
    let version = match choice % 3 {
        0 => Version::Tls13,
        1 => Version::Tls12 {
            explicit_nonce: true,
        },
        _ => Version::Tls12 {
            explicit_nonce: false,
        },
    };
    let secrets = || {
        let (key, iv) = (AeadKey::from([choice; 32]), Iv::new([7; 12]));
        match (version, choice / 3 % 2) {
            (
                Version::Tls12 {
                    explicit_nonce: false,
                },
                _,
            )
            | (Version::Tls13, 1) => ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv },
            _ => ConnectionTrafficSecrets::Aes256Gcm { key, iv },
        }
    };
    let (mut tx, mut rx) = (
        Keys::new(0, &secrets()).expect("keys"),
        Keys::new(0, &secrets()).expect("keys"),
    );
    // Pieces: [raw?, kind, length, bytes...].
    let mut wire = Vec::new();
    let mut sealed = Vec::new();
    let mut raw_from = None;
    while let [mode, kind, len, tail @ ..] = rest {
        let len = (*len as usize * 67).min(tail.len());
        let (piece, tail) = tail.split_at(len);
        rest = tail;
        if mode % 4 == 0 {
            raw_from.get_or_insert(sealed.len());
            wire.extend_from_slice(piece);
        } else {
            let kind = [
                records::ALERT,
                records::HANDSHAKE,
                records::APPLICATION_DATA,
            ][*kind as usize % 3];
            tx.seal(version, kind, &[piece], &mut wire);
            sealed.push((kind, piece.to_vec()));
        }
    }
    let mut at = 0;
    let mut opened = 0;
    while let Ok(Some(len)) = records::whole_record(&wire[at..]) {
        assert!(len >= records::HEADER && at + len <= wire.len());
        let record = &mut wire[at..at + len];
        at += len;
        let Ok((kind, range)) = rx.open(version, record) else {
            break;
        };
        let body = &record[range];
        assert!(body.len() <= records::MAX_PLAINTEXT);
        let _ = records::alert(version, body);
        let _ = records::key_update(version, body);
        if raw_from.is_none_or(|raw| opened < raw) {
            assert_eq!((kind, body), (sealed[opened].0, &sealed[opened].1[..]));
        }
        opened += 1;
    }
    assert!(opened >= raw_from.unwrap_or(sealed.len()));
}
