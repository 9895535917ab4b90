//! Entry points for the fuzz targets (`fuzz/`): internal pieces driven with arbitrary
//! bytes, with the invariants they must keep. Not part of the API.

use crate::core::upgrade::handshake::{self, ReadError};

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

/// A wss connection's TLS (`socket::tls_stream::ServerTls`, rustls' unbuffered
/// connection) after a real handshake with a rustls client, on pieces the fuzzer
/// chooses: application data the client seals, key updates it asks for, its
/// close_notify, or raw bytes (records of any kind, whole, cut or broken), fed to the
/// server in chunks of a chosen size. Never panics; every piece of data sealed before
/// the first raw piece and the close arrives whole and in order; after an error
/// nothing more is opened and nothing can be written.
pub struct TlsRecords {
    server: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    /// TLS 1.3 and TLS 1.2 clients, with the server's certificate as their root.
    clients: [std::sync::Arc<tokio_rustls::rustls::ClientConfig>; 2],
}

impl TlsRecords {
    /// From the server's certificate (for `localhost`) and key, in PEM.
    pub fn new(cert_pem: &str, key_pem: &str) -> Self {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

        let server = crate::core::socket::tls::TlsConfig::from_pem(cert_pem, key_pem, None)
            .expect("the fuzz target's certificate and key")
            .config;
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("a certificate"))
            .expect("a root");
        let client = |version: &'static rustls::SupportedProtocolVersion| {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            std::sync::Arc::new(
                ClientConfig::builder_with_provider(provider)
                    .with_protocol_versions(&[version])
                    .expect("a version")
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth(),
            )
        };
        TlsRecords {
            server,
            clients: [
                client(&rustls::version::TLS13),
                client(&rustls::version::TLS12),
            ],
        }
    }

    /// One input: `[version and chunk size, (mode, length, bytes)...]`.
    pub fn run(&self, data: &[u8]) {
        use std::io::Write;

        use tokio_rustls::rustls::ClientConnection;

        use crate::core::socket::tls_stream::{ServerTls, Then};

        let Some((&choice, mut rest)) = data.split_first() else {
            return;
        };
        let mut server = ServerTls::new(self.server.clone()).expect("a server connection");
        let config = self.clients[choice as usize % 2].clone();
        let mut client = ClientConnection::new(config, "localhost".try_into().expect("a name"))
            .expect("a client connection");
        let (mut out, mut plain) = (Vec::new(), Vec::new());
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).expect("to memory");
            let done = server
                .process(&mut wire, &mut out, &mut plain, Then::Nothing)
                .expect("a handshake between rustls' own sides");
            assert_eq!(done.consumed, wire.len(), "whole handshake records");
            client.read_tls(&mut &out[..]).expect("from memory");
            out.clear();
            client
                .process_new_packets()
                .expect("the server's handshake");
        }
        // Pieces: [mode, length, bytes...].
        let (mut wire, mut sealed) = (Vec::new(), Vec::new());
        let mut cut = false;
        while let [mode, len, tail @ ..] = rest {
            let len = (*len as usize * 67).min(tail.len());
            let (piece, tail) = tail.split_at(len);
            rest = tail;
            match mode % 4 {
                0 => {
                    cut = true;
                    wire.extend_from_slice(piece);
                }
                1 => {
                    client.writer().write_all(piece).expect("to memory");
                    if !cut {
                        sealed.extend_from_slice(piece);
                    }
                }
                2 => {
                    let _ = client.refresh_traffic_keys();
                }
                _ => {
                    client.send_close_notify();
                    cut = true;
                }
            }
            while client.wants_write() {
                client.write_tls(&mut wire).expect("to memory");
            }
        }
        // Fed in chunks of a chosen size, as reads from a socket come.
        let chunk = 1 + (choice as usize / 2) * 97;
        let (mut incoming, mut failed) = (Vec::new(), false);
        for piece in wire.chunks(chunk) {
            incoming.extend_from_slice(piece);
            match server.process(&mut incoming, &mut out, &mut plain, Then::Nothing) {
                Ok(done) => {
                    assert!(!failed, "a connection that failed opened records again");
                    incoming.drain(..done.consumed);
                }
                Err(_) => failed = true,
            }
        }
        assert!(
            plain.starts_with(&sealed),
            "sealed data opened whole and in order"
        );
        if failed {
            let before = plain.len();
            let write = server.process(&mut incoming, &mut out, &mut plain, Then::Write(b"x"));
            assert!(
                write.is_err() && plain.len() == before,
                "used after a failure"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// The TLS target on its seeds (`fuzz/seeds/tls_records`), as `cargo fuzz` starts.
    #[test]
    fn tls_records_keeps_its_invariants_on_its_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        let records = super::TlsRecords::new(&read("fuzz/tls/cert.pem"), &read("fuzz/tls/key.pem"));
        let seeds = std::fs::read_dir(root.join("fuzz/seeds/tls_records")).unwrap();
        let mut n = 0;
        for seed in seeds {
            records.run(&std::fs::read(seed.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 5, "{n} seeds");
    }
}
