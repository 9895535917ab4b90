//! `LeanTls` against a rustls client in the same process, over loopback TCP: the keys
//! it takes at the confidentiality limit, and its buffers when idle.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

use super::LeanTls;
use super::records::{self, Keys, Version};

type ClientTls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A connected pair limited to `versions`: our side and a rustls client.
async fn pair(versions: &[&'static rustls::SupportedProtocolVersion]) -> (LeanTls, ClientTls) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    server.enable_secret_extraction = true;
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connecting = tokio::spawn(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap()
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let ours = LeanTls::accept(Arc::new(server), tcp).await.unwrap();
    (ours, connecting.await.unwrap())
}

/// Writes `count` messages of `len` bytes from our side and reads them on the client.
async fn send_and_read(ours: &mut LeanTls, client: &mut ClientTls, count: usize, len: usize) {
    let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
    for _ in 0..count {
        ours.write_all(&message).await.unwrap();
    }
    ours.flush().await.unwrap();
    let mut got = vec![0; count * len];
    client.read_exact(&mut got).await.unwrap();
    assert!(got.chunks(len).all(|c| c == message));
}

#[tokio::test]
async fn tls_1_3_takes_new_keys_at_the_confidentiality_limit() {
    let (mut ours, mut client) = pair(&[&rustls::version::TLS13]).await;
    ours.tx_limit = 3;
    send_and_read(&mut ours, &mut client, 10, 100).await;
    // Three records per key (the last a KeyUpdate): ten messages took several key
    // updates, and the client, which follows them, read everything.
    assert!(ours.tx.seq() < 3, "{} records with one key", ours.tx.seq());
    // The client's messages still open after its own keys' updates are answered.
    client.write_all(b"ping").await.unwrap();
    client.flush().await.unwrap();
    let mut got = [0; 4];
    ours.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
}

#[tokio::test]
async fn tls_1_2_ends_at_the_confidentiality_limit() {
    let (mut ours, mut client) = pair(&[&rustls::version::TLS12]).await;
    // The server's Finished was sealed with these keys.
    ours.tx_limit = ours.tx.seq() + 3;
    send_and_read(&mut ours, &mut client, 3, 100).await;
    let refused = ours.write_all(b"one record too many").await;
    assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn an_idle_connection_keeps_no_buffer() {
    for versions in [&[&rustls::version::TLS13], &[&rustls::version::TLS12]] {
        let (mut ours, mut client) = pair(versions).await;
        // A message larger than a record each way, then nothing.
        client.write_all(&[7; 40_000]).await.unwrap();
        client.flush().await.unwrap();
        let mut got = vec![0; 40_000];
        ours.read_exact(&mut got).await.unwrap();
        send_and_read(&mut ours, &mut client, 1, 40_000).await;
        let kept = ours.incoming.capacity() + ours.plain.capacity() + ours.outgoing.capacity();
        assert_eq!(kept, 0, "bytes kept by an idle connection");
        // Its end: close_notify read as the end of data.
        client.shutdown().await.unwrap();
        assert_eq!(ours.read(&mut got).await.unwrap(), 0);
    }
}

/// The client's keys, taken out of its rustls connection, to write records by hand.
fn client_keys(client: ClientTls) -> (tokio::net::TcpStream, Keys, Keys) {
    let (tcp, conn) = client.into_inner();
    let secrets = conn.dangerous_extract_secrets().unwrap();
    let tx = Keys::new(secrets.tx.0, &secrets.tx.1).unwrap();
    let rx = Keys::new(secrets.rx.0, &secrets.rx.1).unwrap();
    (tcp, tx, rx)
}

/// Reads records from `tcp` and opens them with `keys` until one that is not a TLS 1.3
/// session ticket (the client had not read them yet): (type, plaintext).
async fn read_record(
    tcp: &mut tokio::net::TcpStream,
    keys: &mut Keys,
    version: Version,
) -> (u8, Vec<u8>) {
    loop {
        let mut record = vec![0; records::HEADER];
        tcp.read_exact(&mut record).await.unwrap();
        let len = u16::from_be_bytes([record[3], record[4]]) as usize;
        record.resize(records::HEADER + len, 0);
        tcp.read_exact(&mut record[records::HEADER..])
            .await
            .unwrap();
        let (kind, range) = keys.open(version, &mut record).unwrap();
        let body = &record[range];
        if !(kind == records::HANDSHAKE && body.first() == Some(&4)) {
            return (kind, body.to_vec());
        }
    }
}

#[tokio::test]
async fn a_tls_1_2_renegotiation_gets_a_warning_and_the_connection_goes_on() {
    let (mut ours, client) = pair(&[&rustls::version::TLS12]).await;
    let version = ours.version;
    let (mut tcp, mut tx, mut rx) = client_keys(client);
    // A ClientHello (its header is enough) after the handshake, then data.
    let mut wire = Vec::new();
    tx.seal(version, records::HANDSHAKE, &[&[1, 0, 0, 0]], &mut wire);
    tx.seal(
        version,
        records::APPLICATION_DATA,
        &[b"still here"],
        &mut wire,
    );
    tcp.write_all(&wire).await.unwrap();
    let mut got = [0; 10];
    ours.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"still here");
    assert_eq!(
        read_record(&mut tcp, &mut rx, version).await,
        (records::ALERT, vec![1, records::NO_RENEGOTIATION])
    );
}

#[tokio::test]
async fn a_record_that_fails_to_decrypt_gets_bad_record_mac() {
    for versions in [&[&rustls::version::TLS13], &[&rustls::version::TLS12]] {
        let (mut ours, client) = pair(versions).await;
        let version = ours.version;
        let (mut tcp, mut tx, mut rx) = client_keys(client);
        let mut wire = Vec::new();
        tx.seal(version, records::APPLICATION_DATA, &[b"bent"], &mut wire);
        let last = wire.len() - 1;
        wire[last] ^= 1;
        tcp.write_all(&wire).await.unwrap();
        let error = ours.read(&mut [0; 16]).await.unwrap_err();
        assert!(error.to_string().contains("failed to decrypt"), "{error}");
        assert_eq!(
            read_record(&mut tcp, &mut rx, version).await,
            (records::ALERT, vec![2, 20])
        );
    }
}
