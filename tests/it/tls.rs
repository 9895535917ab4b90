//! wss:// with rustls: certificates made in the test (rcgen, and openssl for Godot's
//! RSA PKCS#1 keys), a rustls client and Python `websockets`, errors, stalled
//! handshakes, and certificate renewal while listening.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::chain;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Error, Event, Server, TlsConfig};
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for localhost: (cert PEM, key PEM, cert DER).
fn self_signed() -> (String, String, CertificateDer<'static>) {
    let key = KeyPair::generate().unwrap(); // ECDSA P-256, PKCS#8
    let cert = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

fn client_config(roots: &[&CertificateDer<'static>]) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

async fn connect_wss(
    port: u16,
    cfg: Arc<ClientConfig>,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let url = format!("wss://localhost:{port}/");
    tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(cfg)),
    )
    .await
    .map(|(ws, _)| ws)
}

fn tls_server(tls: TlsConfig, f: impl FnOnce(&mut Server)) -> Server {
    listening(&[], |s| {
        s.configure(|c| c.connections.tls = Some(tls)).unwrap();
        f(s);
    })
}

/// Sends text and binary, expects the echo.
async fn round_trip(c: &mut Client, tag: &str) {
    c.send(Message::text(tag)).await.unwrap();
    assert_eq!(c.next().await.unwrap().unwrap(), Message::text(tag));
    c.send(Message::binary(tag.as_bytes().to_vec()))
        .await
        .unwrap();
    assert_eq!(
        c.next().await.unwrap().unwrap(),
        Message::binary(tag.as_bytes().to_vec())
    );
}

/// Runs the server's echo loop on a thread until `stop` is set.
fn echo_in_background(
    mut server: Server,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<Server>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut log = Vec::new();
        echo_until(&mut server, &mut log, 120, |_| {
            s2.load(std::sync::atomic::Ordering::SeqCst)
        });
        server
    });
    (stop, handle)
}

#[test]
fn wss_round_trip_with_ecdsa_pkcs8_key() {
    let rt = client_runtime();
    let (cert, key, der) = self_signed();
    assert!(key.contains("BEGIN PRIVATE KEY"), "rcgen writes PKCS#8");
    let server = tls_server(TlsConfig::from_pem(&cert, &key, None).unwrap(), |_| {});
    assert!(server.settings().connections.tls.is_some());
    let port = server.local_port();
    let (stop, h) = echo_in_background(server);
    rt.block_on(async {
        let mut c = connect_wss(port, client_config(&[&der])).await.unwrap();
        round_trip(&mut c, "over tls").await;
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    h.join().unwrap();
}

#[test]
fn wss_with_godot_style_rsa_pkcs1_key_and_trailing_nul() {
    let dir = std::env::temp_dir().join(format!("gws-rsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_path = dir.join("key.pem");
    let cert_path = dir.join("cert.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key_path)
        .arg("2048")
        .output()
        .expect("openssl (tools/setup-clients.sh installs it)");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-days", "2", "-key"])
        .arg(&key_path)
        .arg("-out")
        .arg(&cert_path)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert!(
        key.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "PKCS#1, as Godot's Crypto.generate_rsa() saves"
    );
    // Godot's X509Certificate.save_to_string() may end with a NUL.
    let cert = std::fs::read_to_string(&cert_path).unwrap() + "\0";
    let der =
        rustls_pki_types::pem::PemObject::from_pem_slice(cert.trim_end_matches('\0').as_bytes())
            .unwrap();
    let server = tls_server(
        TlsConfig::from_pem(&cert, &(key + "\0"), None).unwrap(),
        |_| {},
    );
    let port = server.local_port();
    let (stop, h) = echo_in_background(server);
    let rt = client_runtime();
    rt.block_on(async {
        let mut c = connect_wss(port, client_config(&[&der])).await.unwrap();
        round_trip(&mut c, "rsa").await;
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    h.join().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ca_chain_is_sent_after_the_certificate() {
    let c = chain();
    let rt = client_runtime();
    // Without the intermediate, a client that trusts only the root cannot verify.
    let bare = tls_server(
        TlsConfig::from_pem(&c.leaf_pem, &c.leaf_key_pem, None).unwrap(),
        |_| {},
    );
    let err = rt.block_on(connect_wss(
        bare.local_port(),
        client_config(&[&c.root_der]),
    ));
    assert!(err.is_err(), "the chain is incomplete without ca_chain");
    let server = tls_server(
        TlsConfig::from_pem(&c.leaf_pem, &c.leaf_key_pem, Some(&c.intermediate_pem)).unwrap(),
        |_| {},
    );
    let port = server.local_port();
    let (stop, h) = echo_in_background(server);
    rt.block_on(async {
        let mut cl = connect_wss(port, client_config(&[&c.root_der]))
            .await
            .unwrap();
        round_trip(&mut cl, "chained").await;
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    h.join().unwrap();
}

#[test]
fn python_websockets_over_wss() {
    let c = chain();
    let dir = std::env::temp_dir().join(format!("gws-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("root.pem");
    std::fs::write(&ca, &c.root_pem).unwrap();
    let mut server = tls_server(
        TlsConfig::from_pem(&c.leaf_pem, &c.leaf_key_pem, Some(&c.intermediate_pem)).unwrap(),
        |_| {},
    );
    let url = format!("wss://localhost:{}/tls", server.local_port());
    let script = r#"
import asyncio, ssl, sys, websockets
async def main(url, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send("secure text")
        assert await ws.recv() == "secure text"
        await ws.send(b"\x01\x02")
        assert await ws.recv() == b"\x01\x02"
        await ws.close(code=1000, reason="ok")
    print("ok")
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;
    let args = vec![url, ca.to_string_lossy().into_owned()];
    let log = echo_for_python(&mut server, script, args);
    let id = connected_ids(&log)[0];
    assert!(log.contains(&Event::Disconnected {
        id,
        was_clean: true
    }));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_keys_and_certificates_are_refused_with_clear_errors() {
    let (cert, key, _) = self_signed();
    let (other_cert, _, _) = self_signed();
    let msg = |r: Result<TlsConfig, Error>| match r {
        Err(Error::Tls(m)) => m,
        other => panic!("expected a TLS error, got {other:?}"),
    };
    assert!(msg(TlsConfig::from_pem(&other_cert, &key, None)).contains("does not belong"));
    assert!(msg(TlsConfig::from_pem("garbage", &key, None)).contains("ssl_certificate"));
    assert!(msg(TlsConfig::from_pem(&cert, "garbage", None)).contains("private_key"));
    assert!(msg(TlsConfig::from_pem(&cert, "", None)).contains("private_key"));
    assert!(msg(TlsConfig::from_pem(&cert, &key, Some("not pem"))).contains("ca_chain"));
    // A certificate passed as the key, and the reverse.
    assert!(msg(TlsConfig::from_pem(&key, &cert, None)).contains("ssl_certificate"));
}

#[test]
fn stalled_tls_handshakes_time_out_and_never_become_peers() {
    let rt = client_runtime();
    let (cert, key, der) = self_signed();
    let mut server = tls_server(TlsConfig::from_pem(&cert, &key, None).unwrap(), |s| {
        s.configure(|c| c.connections.handshake_timeout = Duration::from_millis(500))
            .unwrap()
    });
    let addr = format!("127.0.0.1:{}", server.local_port());
    let started = Instant::now();
    let silent = TcpStream::connect(&addr).unwrap();
    let mut partial = TcpStream::connect(&addr).unwrap();
    // A TLS record header announcing 512 bytes, then only a few of them.
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .unwrap();
    let mut good = rt
        .block_on(connect_wss(server.local_port(), client_config(&[&der])))
        .unwrap();
    let mut log = Vec::new();
    rt.block_on(good.send(Message::text("fine"))).unwrap();
    echo_until(&mut server, &mut log, 5, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) == 1
    });
    assert_eq!(
        rt.block_on(good.next()).unwrap().unwrap(),
        Message::text("fine")
    );
    for (name, mut s) in [("silent", silent), ("partial", partial)] {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 64];
        let r = std::io::Read::read(&mut s, &mut buf);
        assert!(
            matches!(r, Ok(0) | Err(_))
                && !matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{name}: {r:?}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(400));
    poll_for(&mut server, &mut log, 100);
    assert_eq!(connected_ids(&log).len(), 1);
}

#[test]
fn plain_and_tls_mismatches_fail_for_that_client_only() {
    let rt = client_runtime();
    let (cert, key, der) = self_signed();
    let mut tls = tls_server(TlsConfig::from_pem(&cert, &key, None).unwrap(), |_| {});
    let mut plain = listening(&[], |_| {});
    // ws:// client to the wss:// server, and wss:// client to the ws:// server.
    assert!(
        rt.block_on(connect(
            &format!("ws://127.0.0.1:{}/", tls.local_port()),
            &[]
        ))
        .is_err()
    );
    assert!(
        rt.block_on(connect_wss(plain.local_port(), client_config(&[&der])))
            .is_err()
    );
    // Both servers still serve their own kind.
    let _a = rt
        .block_on(connect_wss(tls.local_port(), client_config(&[&der])))
        .unwrap();
    let _b = rt.block_on(connect(&url(&plain), &[])).unwrap();
    let (mut l1, mut l2) = (Vec::new(), Vec::new());
    poll_until(&mut tls, &mut l1, 5, |l| connected_ids(l).len() == 1);
    poll_until(&mut plain, &mut l2, 5, |l| connected_ids(l).len() == 1);
    poll_for(&mut tls, &mut l1, 100);
    assert_eq!(connected_ids(&l1).len(), 1);
}

#[test]
fn certificate_renewal_while_listening_keeps_connected_clients() {
    let rt = client_runtime();
    let (cert_a, key_a, der_a) = self_signed();
    let (cert_b, key_b, der_b) = self_signed();
    let mut server = tls_server(TlsConfig::from_pem(&cert_a, &key_a, None).unwrap(), |_| {});
    let port = server.local_port();
    let mut old = rt
        .block_on(connect_wss(port, client_config(&[&der_a])))
        .unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    server
        .configure(|c| {
            c.connections.tls = Some(TlsConfig::from_pem(&cert_b, &key_b, None).unwrap())
        })
        .unwrap();
    let (stop, h) = echo_in_background(server);
    rt.block_on(async {
        let mut new = connect_wss(port, client_config(&[&der_b]))
            .await
            .expect("new certificate in use");
        assert!(
            connect_wss(port, client_config(&[&der_a])).await.is_err(),
            "old certificate no longer served"
        );
        round_trip(&mut new, "new").await;
        round_trip(&mut old, "old connection survives").await;
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    h.join().unwrap();
}

/// Runs `clients` against an echoing wss server with a new self-signed certificate (its
/// port and certificate given).
fn against_echoing_wss<F: std::future::Future<Output = ()>>(
    clients: impl FnOnce(u16, CertificateDer<'static>) -> F,
) {
    let rt = client_runtime();
    let (cert, key, der) = self_signed();
    let server = tls_server(TlsConfig::from_pem(&cert, &key, None).unwrap(), |_| {});
    let port = server.local_port();
    let (stop, h) = echo_in_background(server);
    rt.block_on(clients(port, der));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    h.join().unwrap();
}

/// A wss client that allows only `suite` (and so only its TLS version).
async fn connect_with_suite(
    port: u16,
    der: &CertificateDer<'static>,
    suite: rustls::SupportedCipherSuite,
) -> Client {
    let mut store = RootCertStore::empty();
    store.add(der.clone()).unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![suite];
    let version = suite.version();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    // So that a test can see which keys the server's records were sealed with.
    config.enable_secret_extraction = true;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Rustls(tls);
    let url = format!("wss://localhost:{port}/");
    tokio_tungstenite::client_async(url, stream)
        .await
        .unwrap()
        .0
}

/// The client's rustls connection under a wss client.
fn client_tls(c: &mut Client) -> &mut rustls::ClientConnection {
    match c.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Rustls(tls) => tls.get_mut().1,
        _ => unreachable!("a wss client"),
    }
}

/// Sends a message of `len` bytes and expects it back whole.
async fn big_round_trip(c: &mut Client, len: usize) {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    c.send(Message::binary(payload.clone())).await.unwrap();
    assert_eq!(c.next().await.unwrap().unwrap(), Message::binary(payload));
}

#[test]
fn every_cipher_suite_of_tls_1_2_and_1_3_carries_small_and_multi_record_messages() {
    // The certificate is ECDSA: every TLS 1.3 suite and the ECDSA ones of TLS 1.2.
    let suites: Vec<_> = rustls::crypto::ring::default_provider()
        .cipher_suites
        .into_iter()
        .filter(|s| !format!("{:?}", s.suite()).contains("_RSA_"))
        .collect();
    assert_eq!(suites.len(), 6, "{suites:?}");
    against_echoing_wss(|port, der| async move {
        for suite in suites {
            let mut c = connect_with_suite(port, &der, suite).await;
            assert_eq!(
                client_tls(&mut c).negotiated_cipher_suite(),
                Some(suite),
                "negotiated"
            );
            round_trip(&mut c, &format!("{:?}", suite.suite())).await;
            // Four records each way (16 KiB of plaintext per record at most).
            big_round_trip(&mut c, 60_000).await;
            round_trip(&mut c, "after").await;
            c.close(None).await.unwrap();
        }
    });
}

#[test]
fn tls_1_3_key_updates_asked_by_the_client_are_answered() {
    against_echoing_wss(|port, der| async move {
        for suite in [
            rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
            rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ] {
            let mut c = connect_with_suite(port, &der, suite).await;
            round_trip(&mut c, "before").await;
            for i in 0..3 {
                // A KeyUpdate with update_requested: the client's next records use new
                // keys, and so must the server's once it has answered.
                client_tls(&mut c).refresh_traffic_keys().unwrap();
                round_trip(&mut c, &format!("after key update {i}")).await;
                big_round_trip(&mut c, 40_000).await;
            }
            // The server answered the last update with its own: the client's read keys
            // are new, and have opened only the records since (2 echoes and 3 records of
            // the large one), not the dozens since the connection opened.
            let tls = match c.into_inner() {
                tokio_tungstenite::MaybeTlsStream::Rustls(tls) => tls,
                _ => unreachable!(),
            };
            let secrets = tls.into_inner().1.dangerous_extract_secrets().unwrap();
            assert!(
                secrets.rx.0 <= 6,
                "the client read {} records with its read keys: the server did not update its own",
                secrets.rx.0
            );
        }
    });
}

#[test]
fn a_forged_record_ends_that_connection_only() {
    against_echoing_wss(|port, der| async move {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384;
        let mut forged = connect_with_suite(port, &der, suite).await;
        let mut healthy = connect_with_suite(port, &der, suite).await;
        round_trip(&mut forged, "first").await;
        // An application-data record whose bytes no key sealed.
        let tcp = match forged.get_mut() {
            tokio_tungstenite::MaybeTlsStream::Rustls(tls) => tls.get_mut().0,
            _ => unreachable!(),
        };
        let mut record = vec![23, 3, 3, 0, 40];
        record.extend([0x5a; 40]);
        tokio::io::AsyncWriteExt::write_all(tcp, &record)
            .await
            .unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), forged.next())
            .await
            .expect("the server ends a connection with a forged record");
        assert!(
            !matches!(ended, Some(Ok(Message::Text(_) | Message::Binary(_)))),
            "{ended:?}"
        );
        round_trip(&mut healthy, "still served").await;
    });
}
