use std::io::{Cursor, Read, Write};

use flate2::{Compress, Compression, FlushCompress};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

use super::*;

/// A message compressed as a client sends it (RFC 7692 7.2.1), tail left out.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// A client's (masked) frame.
fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len < 65536 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The transcoder fed `wire` in pieces of `piece` bytes, read by tungstenite as a server
/// with `limit` as its message size limit: the messages, or the first error.
fn read_all(wire: &[u8], piece: usize, limit: usize) -> (Vec<Message>, Option<WsError>) {
    let mut t = Transcoder::new(Vec::new(), limit);
    let mut rewritten = Vec::new();
    let mut most = 0;
    for chunk in wire.chunks(piece) {
        t.feed(chunk);
        loop {
            t.process().unwrap();
            let out = t.output().len();
            if out == 0 {
                break;
            }
            most = most.max(out);
            rewritten.extend_from_slice(t.output());
            t.take(out);
            if rewritten.len() > limit + 4 * CHUNK {
                break; // a reader would have refused the message by now
            }
        }
    }
    assert!(
        most <= CHUNK + 14,
        "at most one fragment at a time ({most})"
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let mut ws =
        WebSocket::from_raw_socket(Duplex(Cursor::new(rewritten)), Role::Server, Some(config));
    let mut got = Vec::new();
    loop {
        match ws.read() {
            Ok(m) => got.push(m),
            Err(WsError::Io(_)) => return (got, None),
            Err(e) => return (got, Some(e)),
        }
    }
}

/// Bytes to read; writes go nowhere (tungstenite answers pings).
struct Duplex(Cursor<Vec<u8>>);

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn compressed_and_plain_messages_come_out_whole_in_order() {
    let text = "{\"players\":[".to_string() + &"{\"x\":1,\"y\":2},".repeat(500) + "]}";
    let binary: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let packed = compress(&binary);
    let mut wire = frame(true, true, 1, &compress(text.as_bytes()));
    wire.extend(frame(true, false, 2, b"plain"));
    // A compressed message in three fragments with a ping between them.
    let third = packed.len() / 3;
    wire.extend(frame(false, true, 2, &packed[..third]));
    wire.extend(frame(true, false, 9, b"ping"));
    wire.extend(frame(false, false, 0, &packed[third..2 * third]));
    wire.extend(frame(true, false, 0, &packed[2 * third..]));
    // A plain fragmented message, then an empty compressed one.
    wire.extend(frame(false, false, 1, b"ab"));
    wire.extend(frame(true, false, 0, b"cd"));
    wire.extend(frame(true, true, 1, &[0x00]));
    for piece in [1, 7, 1000, usize::MAX] {
        let (got, err) = read_all(&wire, piece, 1 << 20);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 6, "piece {piece}");
        assert_eq!(got[0], Message::text(text.clone()));
        assert_eq!(got[1], Message::binary(&b"plain"[..]));
        assert_eq!(got[2], Message::Ping(b"ping"[..].into()));
        assert_eq!(got[3], Message::binary(binary.clone()));
        assert_eq!(got[4], Message::text("abcd"));
        assert_eq!(got[5], Message::text(""));
    }
}

#[test]
fn a_bomb_is_refused_at_the_limit_without_being_inflated() {
    let zeros = vec![0u8; 20 << 20];
    let packed = compress(&zeros);
    assert!(packed.len() < 40 * 1024, "{}", packed.len());
    let wire = frame(true, true, 2, &packed);
    let (got, err) = read_all(&wire, 1024, 64 * 1024);
    assert!(got.is_empty());
    assert!(
        matches!(
            err,
            Some(WsError::Capacity(CapacityError::MessageTooLong { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn frames_the_extension_does_not_define_reach_the_reader_unchanged() {
    // RSV1 on a control frame, and on a continuation.
    let (_, err) = read_all(&frame(true, true, 9, b"x"), 100, 1024);
    assert!(matches!(
        err,
        Some(WsError::Protocol(ProtocolError::NonZeroReservedBits))
    ));
    let mut wire = frame(false, true, 1, &compress(b"hello"));
    wire.extend(frame(true, true, 0, &compress(b"x")));
    let (_, err) = read_all(&wire, 100, 1024);
    assert!(matches!(
        err,
        Some(WsError::Protocol(ProtocolError::NonZeroReservedBits))
    ));
    // A new message inside a compressed one.
    let mut wire = frame(false, true, 1, &compress(b"hello"));
    wire.extend(frame(true, false, 1, b"x"));
    let (_, err) = read_all(&wire, 100, 1024);
    assert!(
        matches!(
            err,
            Some(WsError::Protocol(ProtocolError::ExpectedFragment(_)))
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_deflate_data_is_an_error() {
    let mut t = Transcoder::new(frame(true, true, 2, &[0xff, 0xff, 0xff, 0xff]), 1024);
    let mut result = Ok(());
    for _ in 0..4 {
        result = t.process();
        let n = t.output().len();
        t.take(n);
    }
    assert_eq!(result, Err(BadData));
}

#[test]
fn a_final_block_inside_a_message_is_read() {
    // RFC 7692 7.2.3.4: "Hello" in a block with BFINAL set, then an empty stored block.
    let (got, err) = read_all(
        &frame(
            true,
            true,
            1,
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        ),
        3,
        1024,
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![Message::text("Hello")]);
}

#[test]
fn compressed_bytes_past_the_limit_are_refused_whatever_they_inflate_to() {
    // Empty stored blocks: five bytes each, nothing inflated, for ever.
    let blocks: Vec<u8> = [0u8, 0, 0, 0xff, 0xff].repeat(400);
    let mut t = Transcoder::new(frame(true, true, 2, &blocks), 1024);
    let result = t.process();
    assert_eq!(result, Err(TooBig));
    assert_eq!(TooBig.close().0, 1009);
    let mut t = Transcoder::new(frame(true, true, 2, &blocks[..1000]), 1024);
    assert_eq!(t.process(), Ok(()));
}
