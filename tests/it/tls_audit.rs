//! The TLS that faces the internet, judged by a tool nobody here wrote: Debian's
//! testssl.sh (installed by tools/setup-clients.sh) against a wss server on the core with a
//! certificate chain (root -> intermediate -> leaf, the intermediate given as `ca_chain`).

use crate::common;

use std::process::Command;

use common::certs::chain;
use godot_websocket_server::core::{Server, TlsConfig};

/// testssl's findings: (id, severity, finding) from its flat JSON.
fn findings(json: &str) -> Vec<(String, String, String)> {
    let field = |item: &str, key: &str| -> String {
        let marker = format!("\"{key}\"");
        let Some(at) = item.find(&marker) else {
            return String::new();
        };
        let rest = &item[at + marker.len()..];
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        rest[start..end].to_string()
    };
    json.split('{')
        .skip(1)
        .map(|item| {
            (
                field(item, "id"),
                field(item, "severity"),
                field(item, "finding"),
            )
        })
        .collect()
}

#[test]
fn testssl_finds_nothing_weak_and_the_chain_as_configured() {
    let c = chain();
    let mut server = Server::new();
    let tls = TlsConfig::from_pem(&c.leaf_pem, &c.leaf_key_pem, Some(&c.intermediate_pem));
    let tls = Some(tls.unwrap());
    server
        .configure(|s| {
            s.listen.bind_ip = "127.0.0.1".into();
            s.connections.tls = tls;
        })
        .unwrap();
    server.listen(0, &[], false).unwrap();
    let port = server.local_port();
    let dir = std::env::temp_dir().join(format!("gws-testssl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, &c.root_pem).unwrap();
    let json = dir.join("out.json");
    let out = Command::new("testssl")
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "--ip",
            "one",
        ])
        .args(["-p", "-s", "-S", "-R", "-C"])
        .arg("--add-ca")
        .arg(&root)
        .arg("--jsonfile")
        .arg(&json)
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("testssl (bash tools/setup-clients.sh installs it)");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let found = findings(&std::fs::read_to_string(&json).expect("testssl wrote its JSON"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let of = |id: &str| -> String {
        found
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, _, f)| f.clone())
            .unwrap_or_else(|| panic!("testssl said nothing about {id}"))
    };
    // Protocols: TLS 1.2 and 1.3 only.
    for old in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] {
        assert_eq!(of(old), "not offered", "{old}");
    }
    assert_eq!(of("TLS1_2"), "offered");
    assert!(of("TLS1_3").starts_with("offered"), "{}", of("TLS1_3"));
    // Ciphers: nothing weak, only strong ones.
    for weak in [
        "cipherlist_NULL",
        "cipherlist_aNULL",
        "cipherlist_EXPORT",
        "cipherlist_LOW",
        "cipherlist_3DES_IDEA",
        "cipherlist_AVERAGE",
    ] {
        assert_eq!(of(weak), "not offered", "{weak}");
    }
    assert_eq!(of("cipherlist_STRONG"), "offered");
    // The chain as configured: the leaf and the intermediate of ca_chain, in order, trusted
    // up to the root.
    assert_eq!(of("certs_countServer"), "2");
    assert_eq!(of("certs_list_ordering_problem"), "no");
    assert!(of("cert_chain_of_trust").starts_with("passed"));
    // Renegotiation and compression.
    assert_eq!(of("secure_renego"), "supported");
    assert_eq!(of("secure_client_renego"), "not vulnerable");
    assert_eq!(of("CRIME_TLS"), "not vulnerable");
    // Nothing else worse than LOW, but what is about the test's own certificate: it names
    // localhost (testssl connects to 127.0.0.1), has rcgen's long validity and no CRL or
    // OCSP URL.
    let about_the_test_certificate = ["cert_trust", "cert_validityPeriod", "cert_revocation"];
    let serious: Vec<_> = found
        .iter()
        .filter(|(_, sev, _)| ["MEDIUM", "HIGH", "CRITICAL"].contains(&sev.as_str()))
        .filter(|(id, _, _)| !about_the_test_certificate.contains(&id.as_str()))
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
}
