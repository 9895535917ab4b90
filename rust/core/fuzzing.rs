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
