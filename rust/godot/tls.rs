//! PEM text from Godot's crypto objects, for the core's TLS settings.

use godot::classes::{CryptoKey, TlsOptions, X509Certificate};
use godot::prelude::*;

use crate::core::{Error, TlsConfig};

/// The key and certificates a `WebSocketServer` has been given.
#[derive(Default)]
pub struct TlsParts {
    pub private_key: Option<Gd<CryptoKey>>,
    pub ssl_certificate: Option<Gd<X509Certificate>>,
    pub ca_chain: Option<Gd<X509Certificate>>,
    pub tls_options: Option<Gd<TlsOptions>>,
}

/// Godot 4.6's `X509Certificate.save_to_string()` prints "Unicode parsing error ...
/// Unexpected NUL character" itself (it keeps the C string's terminator), also when called
/// from GDScript; the PEM is right.
fn cert_pem(cert: &Gd<X509Certificate>) -> String {
    cert.clone().save_to_string().to_string()
}

fn key_pem(key: &Gd<CryptoKey>) -> String {
    key.clone().save_to_string().to_string()
}

impl TlsParts {
    /// `None` for plain `ws://`; the TLS settings for `wss://`; or why the parts given
    /// cannot be used. `tls_options` wins over the separate properties.
    pub fn config(&self) -> Result<Option<TlsConfig>, Error> {
        let (key, cert) = match &self.tls_options {
            Some(options) => {
                let key = options.get_private_key();
                let cert = options.get_own_certificate();
                if key.is_none() || cert.is_none() {
                    return Err(Error::Tls(
                        "tls_options must be made with TLSOptions.server(key, certificate); a client TLSOptions has no key".into(),
                    ));
                }
                (key, cert)
            }
            None => (self.private_key.clone(), self.ssl_certificate.clone()),
        };
        match (key, cert) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::Tls(
                "private_key is set but ssl_certificate is not: set both for wss://, or neither for ws://".into(),
            )),
            (None, Some(_)) => Err(Error::Tls(
                "ssl_certificate is set but private_key is not: set both for wss://, or neither for ws://".into(),
            )),
            (Some(key), Some(cert)) => {
                let ca = self.ca_chain.as_ref().map(cert_pem);
                TlsConfig::from_pem(&cert_pem(&cert), &key_pem(&key), ca.as_deref()).map(Some)
            }
        }
    }
}
