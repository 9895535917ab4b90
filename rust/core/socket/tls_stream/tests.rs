//! The TLS of a wss connection against a rustls client in the same process: in memory
//! for what rustls answers to a misbehaving peer, over loopback TCP for the buffers an
//! idle connection keeps.

use std::io::Write;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{
    self, AlertDescription, ClientConfig, ClientConnection, RootCertStore, ServerConfig,
};

use super::{ServerTls, Then, TlsStream};

type Version = &'static rustls::SupportedProtocolVersion;
const BOTH: [Version; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];

/// A server and a client configuration limited to `version`.
fn configs(version: Version) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// A server and a client that made their handshake in memory.
fn pair(version: Version) -> (ServerTls, ClientConnection) {
    let (server_config, client_config) = configs(version);
    let mut server = ServerTls::new(server_config).unwrap();
    let mut client = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    while client.is_handshaking() || server.is_handshaking() {
        let plain = to_server(&mut client, &mut server).unwrap();
        assert!(plain.is_empty());
        client.process_new_packets().unwrap();
    }
    (server, client)
}

/// What the client has to send, given to the server in one piece: the data opened.
fn to_server(client: &mut ClientConnection, server: &mut ServerTls) -> std::io::Result<Vec<u8>> {
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    deliver(wire, client, server)
}

/// Gives `wire` to the server, and what it answers to the client (not yet processed).
fn deliver(
    mut wire: Vec<u8>,
    client: &mut ClientConnection,
    server: &mut ServerTls,
) -> std::io::Result<Vec<u8>> {
    let (mut out, mut plain) = (Vec::new(), Vec::new());
    let done = server.process(&mut wire, &mut out, &mut plain, Then::Nothing);
    let mut from = &out[..];
    while !from.is_empty() {
        client.read_tls(&mut from).unwrap();
    }
    done.map(|_| plain)
}

/// Gives the server's `out` to the client: what it opened.
fn to_client(out: &[u8], client: &mut ClientConnection) -> Vec<u8> {
    let (mut from, mut got) = (out, Vec::new());
    while !from.is_empty() {
        client.read_tls(&mut from).unwrap();
        client.process_new_packets().unwrap();
        let _ = std::io::Read::read_to_end(&mut client.reader(), &mut got);
    }
    got
}

/// The alert the client got, if any.
fn alert_received(client: &mut ClientConnection) -> Option<AlertDescription> {
    match client.process_new_packets() {
        Err(rustls::Error::AlertReceived(alert)) => Some(alert),
        _ => None,
    }
}

#[test]
fn data_goes_both_ways_in_whole_records() {
    for version in BOTH {
        let (mut server, mut client) = pair(version);
        let message: Vec<u8> = (0..40_000).map(|i| i as u8).collect();
        client.writer().write_all(&message).unwrap();
        assert_eq!(to_server(&mut client, &mut server).unwrap(), message);
        let (mut out, mut plain) = (Vec::new(), Vec::new());
        let done = server
            .process(&mut [], &mut out, &mut plain, Then::Write(&message))
            .unwrap();
        assert_eq!(done.written, message.len());
        assert_eq!(to_client(&out, &mut client), message);
    }
}

#[test]
fn a_record_that_fails_to_decrypt_gets_bad_record_mac_and_the_connection_is_over() {
    for version in BOTH {
        let (mut server, mut client) = pair(version);
        client.writer().write_all(b"bent").unwrap();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let error = deliver(wire, &mut client, &mut server).unwrap_err();
        assert!(error.to_string().contains("decrypt"), "{error}");
        assert_eq!(
            alert_received(&mut client),
            Some(AlertDescription::BadRecordMac)
        );
        let (mut out, mut plain) = (Vec::new(), Vec::new());
        let write = server.process(&mut [], &mut out, &mut plain, Then::Write(b"more"));
        assert!(
            write.is_err() && out.is_empty(),
            "written after a fatal alert"
        );
    }
}

#[test]
fn a_record_longer_than_any_ends_the_connection_before_its_bytes_come() {
    for version in BOTH {
        let (mut server, mut client) = pair(version);
        // Its header alone: rustls refuses records over 2^14 + 2048 bytes at once.
        let wire = vec![23, 3, 3, 0xff, 0xff];
        assert!(deliver(wire, &mut client, &mut server).is_err());
        assert_eq!(
            alert_received(&mut client),
            Some(AlertDescription::DecodeError)
        );
    }
}

#[test]
fn key_update_requests_without_data_between_end_the_connection() {
    let (mut server, mut client) = pair(&rustls::version::TLS13);
    // One is answered, with the next data the server sends.
    client.refresh_traffic_keys().unwrap();
    client.writer().write_all(b"after one").unwrap();
    assert_eq!(to_server(&mut client, &mut server).unwrap(), b"after one");
    let (mut out, mut plain) = (Vec::new(), Vec::new());
    server
        .process(&mut [], &mut out, &mut plain, Then::Write(b"answered"))
        .unwrap();
    assert_eq!(to_client(&out, &mut client), b"answered");
    // A flood is not: rustls allows 32 in a row, then ends the connection.
    for _ in 0..100 {
        client.refresh_traffic_keys().unwrap();
    }
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    out.clear();
    let error = server
        .process(&mut wire, &mut out, &mut plain, Then::Nothing)
        .unwrap_err();
    assert!(error.to_string().contains("KeyUpdate"), "{error}");
    assert!(out.len() < 100, "an answer to each: {} bytes", out.len());
    let write = server.process(&mut [], &mut out, &mut plain, Then::Write(b"more"));
    assert!(write.is_err(), "written after the connection failed");
}

#[test]
fn nothing_is_written_after_close_notify() {
    for version in BOTH {
        let (mut server, mut client) = pair(version);
        let (mut out, mut plain) = (Vec::new(), Vec::new());
        server
            .process(&mut [], &mut out, &mut plain, Then::Close)
            .unwrap();
        client.read_tls(&mut &out[..]).unwrap();
        let state = client.process_new_packets().unwrap();
        assert!(state.peer_has_closed());
        let write = server.process(&mut [], &mut out, &mut plain, Then::Write(b"late"));
        assert_eq!(write.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    }
}

#[tokio::test]
async fn an_idle_connection_keeps_no_buffer() {
    for version in BOTH {
        let (server_config, client_config) = configs(version);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio_rustls::TlsConnector::from(client_config)
                .connect("localhost".try_into().unwrap(), tcp)
                .await
                .unwrap()
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ours = TlsStream::accept(server_config, tcp).await.unwrap();
        let mut client = connecting.await.unwrap();
        // A message larger than a record each way, then nothing.
        client.write_all(&[7; 40_000]).await.unwrap();
        client.flush().await.unwrap();
        let mut got = vec![0; 40_000];
        ours.read_exact(&mut got).await.unwrap();
        ours.write_all(&got).await.unwrap();
        ours.flush().await.unwrap();
        client.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&b| b == 7));
        let kept = ours.incoming.capacity() + ours.plain.capacity() + ours.unsent.capacity();
        assert_eq!(kept, 0, "bytes kept by an idle connection");
        // Its end: close_notify read as the end of data.
        client.shutdown().await.unwrap();
        assert_eq!(ours.read(&mut got).await.unwrap(), 0);
    }
}

#[test]
fn a_key_update_in_the_same_read_as_the_clients_finished_is_followed() {
    let (server_config, client_config) = configs(&rustls::version::TLS13);
    let mut server = ServerTls::new(server_config).unwrap();
    let mut client = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    while client.is_handshaking() {
        to_server(&mut client, &mut server).unwrap();
        client.process_new_packets().unwrap();
    }
    // The client's Finished is still unsent: a key update and data go with it.
    assert!(server.is_handshaking());
    client.refresh_traffic_keys().unwrap();
    client.writer().write_all(b"with new keys").unwrap();
    assert_eq!(
        to_server(&mut client, &mut server).unwrap(),
        b"with new keys"
    );
    assert!(!server.is_handshaking());
    let (mut out, mut plain) = (Vec::new(), Vec::new());
    server
        .process(&mut [], &mut out, &mut plain, Then::Write(b"and back"))
        .unwrap();
    assert_eq!(to_client(&out, &mut client), b"and back");
}

#[tokio::test]
async fn data_that_comes_after_the_handshake_in_reads_of_its_own_is_read() {
    for version in BOTH {
        let (server_config, client_config) = configs(version);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(client_config)
                .connect("localhost".try_into().unwrap(), tcp)
                .await
                .unwrap();
            for piece in [&b"first"[..], b"second", b"third"] {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                tls.write_all(piece).await.unwrap();
                tls.flush().await.unwrap();
            }
            tls
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ours = TlsStream::accept(server_config, tcp).await.unwrap();
        let mut got = vec![0; "firstsecondthird".len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), ours.read_exact(&mut got))
            .await
            .expect("read in time")
            .unwrap();
        assert_eq!(got, b"firstsecondthird");
        drop(client.await.unwrap());
    }
}

#[tokio::test]
async fn data_in_the_same_read_as_the_clients_finished_is_read() {
    for version in BOTH {
        let (server_config, client_config) = configs(version);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A rustls client over a raw socket: its last flight and its first data leave in
        // one write.
        let client = tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = "localhost".try_into().unwrap();
            let mut tls = ClientConnection::new(client_config, name).unwrap();
            let mut buf = vec![0; 32 * 1024];
            while tls.is_handshaking() {
                let mut wire = Vec::new();
                while tls.wants_write() {
                    tls.write_tls(&mut wire).unwrap();
                }
                tcp.write_all(&wire).await.unwrap();
                let n = tcp.read(&mut buf).await.unwrap();
                tls.read_tls(&mut &buf[..n]).unwrap();
                tls.process_new_packets().unwrap();
            }
            // In TLS 1.3 the client's Finished is still queued here: it leaves with the
            // data.
            tls.writer().write_all(b"with the Finished").unwrap();
            let mut wire = Vec::new();
            while tls.wants_write() {
                tls.write_tls(&mut wire).unwrap();
            }
            tcp.write_all(&wire).await.unwrap();
            tcp
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ours = TlsStream::accept(server_config, tcp).await.unwrap();
        let mut got = vec![0; "with the Finished".len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), ours.read_exact(&mut got))
            .await
            .expect("read in time")
            .unwrap();
        assert_eq!(got, b"with the Finished");
        drop(client.await.unwrap());
    }
}
