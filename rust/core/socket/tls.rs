//! TLS settings for `wss://`, made from PEM text with rustls (no OpenSSL).

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::core::error::Error;

/// A certificate chain and its private key, checked and ready to accept TLS clients.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

/// Godot's `save_to_string()` may end its PEM with a NUL byte.
fn clean(pem: &str) -> &[u8] {
    pem.trim_end_matches('\0').as_bytes()
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(clean(pem)).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(Error::Tls(format!(
            "{what} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")"
        ))),
        Err(e) => Err(Error::Tls(format!("{what} is not valid PEM: {e}"))),
    }
}

impl TlsConfig {
    /// Builds the TLS settings from PEM text: the server's certificate (`cert_pem`,
    /// which may hold a whole chain), its private key (`key_pem`: PKCS#1 RSA as
    /// Godot's `Crypto` writes it, PKCS#8, or SEC1 EC) and optional extra chain
    /// certificates (`ca_chain_pem`, sent after the server's own). The key must match
    /// the certificate.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        ca_chain_pem: Option<&str>,
    ) -> Result<Self, Error> {
        let mut chain = certificates(cert_pem, "ssl_certificate")?;
        if let Some(ca) = ca_chain_pem.filter(|c| !c.trim_end_matches('\0').trim().is_empty()) {
            chain.extend(certificates(ca, "ca_chain")?);
        }
        let key = PrivateKeyDer::from_pem_slice(clean(key_pem)).map_err(|e| {
            Error::Tls(format!(
                "private_key is not a PEM private key (RSA, PKCS#8 or EC): {e}"
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("TLS setup failed: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => Error::Tls(
                    "private_key does not belong to ssl_certificate: set the key the certificate was made for".into(),
                ),
                other => Error::Tls(format!("private_key or ssl_certificate cannot be used: {other}")),
            })?;
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }
}
