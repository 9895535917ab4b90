//! Certificates made in the tests (rcgen).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;

pub struct Chain {
    pub root_der: CertificateDer<'static>,
    pub root_pem: String,
    pub intermediate_pem: String,
    pub leaf_pem: String,
    pub leaf_key_pem: String,
}

/// root CA -> intermediate CA -> leaf for localhost.
pub fn chain() -> Chain {
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    };
    let root = CertifiedIssuer::self_signed(ca("test root"), KeyPair::generate().unwrap()).unwrap();
    let inter =
        CertifiedIssuer::signed_by(ca("test intermediate"), KeyPair::generate().unwrap(), &root)
            .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &inter)
        .unwrap();
    Chain {
        root_der: root.der().clone(),
        root_pem: root.pem(),
        intermediate_pem: inter.pem(),
        leaf_pem: leaf.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    }
}
