//! TLS records after the handshake: sealing and opening application data, alerts and
//! key updates with the keys rustls negotiated (TLS 1.3, and TLS 1.2's AEAD suites, the
//! only ones rustls offers). Pure functions over byte buffers; the socket is elsewhere.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use tokio_rustls::rustls::ConnectionTrafficSecrets;

/// The largest plaintext one record carries (RFC 8446 5.1).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;
/// The largest ciphertext a peer may send in one record (RFC 8446 5.2; TLS 1.2 allows
/// 2048 bytes of expansion, more than any AEAD suite uses).
pub(crate) const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 2048;
/// A record's header: type, legacy version, length.
pub(crate) const HEADER: usize = 5;
const TAG: usize = 16;
/// TLS 1.2 AES-GCM carries 8 bytes of its nonce in each record.
const EXPLICIT: usize = 8;

/// Record content types (RFC 8446 5.1).
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;
/// The handshake message type of a TLS 1.3 KeyUpdate.
pub(crate) const KEY_UPDATE: u8 = 24;

/// The protocol version the handshake settled on, as far as records differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Tls13,
    /// TLS 1.2 with an explicit nonce in each record (AES-GCM) or not (ChaCha20-Poly1305).
    Tls12 {
        explicit_nonce: bool,
    },
}

/// A record that could not be opened or is not allowed here: the connection ends, with
/// the fatal alert given (RFC 8446 6.2), if any.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadRecord(pub &'static str, pub Option<u8>);

/// Fatal alerts (RFC 8446 6).
pub(crate) const UNEXPECTED_MESSAGE: Option<u8> = Some(10);
const BAD_RECORD_MAC: Option<u8> = Some(20);
const RECORD_OVERFLOW: Option<u8> = Some(22);
const DECODE_ERROR: Option<u8> = Some(50);
pub(crate) const INTERNAL_ERROR: Option<u8> = Some(80);
/// The warning a TLS 1.2 client's renegotiation gets (RFC 5246 7.2.2).
pub(crate) const NO_RENEGOTIATION: u8 = 100;

/// One direction's key, fixed IV and record sequence number.
pub(crate) struct Keys {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Keys {
    /// The keys rustls hands over, starting at sequence number `seq`.
    pub fn new(seq: u64, secrets: &ConnectionTrafficSecrets) -> Result<Self, BadRecord> {
        let (algorithm, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => {
                return Err(BadRecord(
                    "cipher suite without a record layer here",
                    INTERNAL_ERROR,
                ));
            }
        };
        let key = UnboundKey::new(algorithm, key.as_ref())
            .map_err(|_| BadRecord("key of the wrong length", INTERNAL_ERROR))?;
        let iv: [u8; 12] = iv
            .as_ref()
            .try_into()
            .map_err(|_| BadRecord("IV of the wrong length", INTERNAL_ERROR))?;
        Ok(Keys {
            key: LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// Records sealed or opened with these keys so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The IV with the sequence number folded in (RFC 8446 5.3; RFC 7905 for
    /// ChaCha20-Poly1305 in TLS 1.2; rustls' TLS 1.2 AES-GCM nonce likewise).
    fn nonce(&self) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Appends one record of `kind` carrying `plain` (at most `MAX_PLAINTEXT` bytes)
    /// to `out`.
    pub fn seal(&mut self, version: Version, kind: u8, plain: &[&[u8]], out: &mut Vec<u8>) {
        let len: usize = plain.iter().map(|p| p.len()).sum();
        debug_assert!(len <= MAX_PLAINTEXT);
        let nonce = self.nonce();
        let start = out.len();
        let (outer, body_len) = match version {
            Version::Tls13 => (APPLICATION_DATA, len + 1 + TAG),
            Version::Tls12 { explicit_nonce } => {
                (kind, len + TAG + if explicit_nonce { EXPLICIT } else { 0 })
            }
        };
        out.reserve(HEADER + body_len);
        out.push(outer);
        out.extend_from_slice(&[3, 3]);
        out.extend_from_slice(&(body_len as u16).to_be_bytes());
        if version
            == (Version::Tls12 {
                explicit_nonce: true,
            })
        {
            out.extend_from_slice(&nonce[4..]);
        }
        let at = out.len();
        for p in plain {
            out.extend_from_slice(p);
        }
        let aad: &[u8] = match version {
            Version::Tls13 => {
                out.push(kind);
                &aad_13(&out[start..start + HEADER])
            }
            Version::Tls12 { .. } => &aad_12(self.seq, kind, len),
        };
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[at..],
            )
            .expect("a record is far below the AEAD's length limit");
        out.extend_from_slice(tag.as_ref());
        self.seq += 1;
    }

    /// Opens one whole record (`record`: header and body, decrypted in place) and returns
    /// its content type and the range of its plaintext in `record`.
    pub fn open(
        &mut self,
        version: Version,
        record: &mut [u8],
    ) -> Result<(u8, std::ops::Range<usize>), BadRecord> {
        let outer = record[0];
        let (header, body) = record.split_at_mut(HEADER);
        let (plain_len, kind) = match version {
            Version::Tls13 => {
                if outer != APPLICATION_DATA {
                    return Err(BadRecord(
                        "unencrypted record after the handshake",
                        UNEXPECTED_MESSAGE,
                    ));
                }
                if body.len() < TAG + 1 {
                    return Err(BadRecord("record too short", DECODE_ERROR));
                }
                let nonce = self.nonce();
                let plain = self
                    .key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad_13(header)),
                        body,
                    )
                    .map_err(|_| BadRecord("record failed to decrypt", BAD_RECORD_MAC))?;
                // The real type is the last non-zero byte; zeros after it are padding.
                let end = plain.iter().rposition(|&b| b != 0).ok_or(BadRecord(
                    "record without a content type",
                    UNEXPECTED_MESSAGE,
                ))?;
                (end, plain[end])
            }
            Version::Tls12 { explicit_nonce } => {
                let skip = if explicit_nonce { EXPLICIT } else { 0 };
                if body.len() < skip + TAG {
                    return Err(BadRecord("record too short", DECODE_ERROR));
                }
                let mut nonce = self.nonce();
                if explicit_nonce {
                    nonce[4..].copy_from_slice(&body[..EXPLICIT]);
                }
                let len = body.len() - skip - TAG;
                self.key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad_12(self.seq, outer, len)),
                        &mut body[skip..],
                    )
                    .map_err(|_| BadRecord("record failed to decrypt", BAD_RECORD_MAC))?;
                body.copy_within(skip..skip + len, 0);
                (len, outer)
            }
        };
        self.seq += 1;
        if plain_len > MAX_PLAINTEXT {
            return Err(BadRecord("record plaintext over 16 KiB", RECORD_OVERFLOW));
        }
        Ok((kind, HEADER..HEADER + plain_len))
    }
}

fn aad_13(header: &[u8]) -> [u8; HEADER] {
    header.try_into().expect("a record header is 5 bytes")
}

fn aad_12(seq: u64, kind: u8, len: usize) -> [u8; 13] {
    let mut aad = [0; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = kind;
    aad[9..11].copy_from_slice(&[3, 3]);
    aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
    aad
}

/// The length of the first whole record in `bytes`, if it has arrived; an error for a
/// header no TLS peer sends.
pub(crate) fn whole_record(bytes: &[u8]) -> Result<Option<usize>, BadRecord> {
    if bytes.len() < HEADER {
        return Ok(None);
    }
    if !matches!(bytes[0], ALERT..=APPLICATION_DATA) || bytes[1] != 3 {
        return Err(BadRecord("not a TLS record", UNEXPECTED_MESSAGE));
    }
    let len = u16::from_be_bytes([bytes[3], bytes[4]]) as usize;
    if len > MAX_CIPHERTEXT {
        return Err(BadRecord("record over the size limit", RECORD_OVERFLOW));
    }
    Ok((bytes.len() >= HEADER + len).then_some(HEADER + len))
}

/// An alert's meaning for the reader: `Ok(true)` for close_notify (the peer's end of
/// data), `Ok(false)` for a warning to ignore (TLS 1.2 only), an error for the rest.
pub(crate) fn alert(version: Version, body: &[u8]) -> Result<bool, BadRecord> {
    match (version, body) {
        (_, [_, 0]) => Ok(true),
        // user_canceled is followed by close_notify (RFC 8446 6.1).
        (_, [_, 90]) => Ok(false),
        (Version::Tls12 { .. }, [1, _]) => Ok(false),
        (_, [_, _]) => Err(BadRecord("the peer sent a fatal alert", None)),
        _ => Err(BadRecord("malformed alert", DECODE_ERROR)),
    }
}

/// A TLS 1.3 KeyUpdate's `request_update` (RFC 8446 4.6.3): whether the peer asks for
/// ours. Any other TLS 1.3 handshake message after the handshake is refused; in TLS 1.2
/// it is a renegotiation, `None`: refused with a warning, the connection goes on.
pub(crate) fn key_update(version: Version, body: &[u8]) -> Result<Option<bool>, BadRecord> {
    match (version, body) {
        (Version::Tls13, [KEY_UPDATE, 0, 0, 1, request]) if *request <= 1 => {
            Ok(Some(*request == 1))
        }
        (Version::Tls13, _) => Err(BadRecord(
            "unexpected handshake message",
            UNEXPECTED_MESSAGE,
        )),
        (Version::Tls12 { .. }, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::crypto::cipher::{AeadKey, Iv};

    fn pair(chacha: bool) -> (Keys, Keys) {
        let secrets = || {
            let key = AeadKey::from([7u8; 32]);
            let iv = Iv::new([9u8; 12]);
            if chacha {
                ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv }
            } else {
                ConnectionTrafficSecrets::Aes256Gcm { key, iv }
            }
        };
        (
            Keys::new(5, &secrets()).unwrap(),
            Keys::new(5, &secrets()).unwrap(),
        )
    }

    #[test]
    fn sealed_records_open_in_every_version() {
        for version in [
            Version::Tls13,
            Version::Tls12 {
                explicit_nonce: true,
            },
            Version::Tls12 {
                explicit_nonce: false,
            },
        ] {
            for chacha in [false, true] {
                let (mut tx, mut rx) = pair(chacha);
                let mut wire = Vec::new();
                tx.seal(version, APPLICATION_DATA, &[b"hello ", b"world"], &mut wire);
                tx.seal(version, ALERT, &[&[1, 0]], &mut wire);
                let first = whole_record(&wire).unwrap().unwrap();
                let (kind, range) = rx.open(version, &mut wire[..first]).unwrap();
                assert_eq!(
                    (kind, &wire[range]),
                    (APPLICATION_DATA, &b"hello world"[..])
                );
                let rest = &mut wire[first..];
                let (kind, range) = rx.open(version, rest).unwrap();
                assert_eq!((kind, &rest[range]), (ALERT, &[1u8, 0][..]));
                assert_eq!((tx.seq(), rx.seq()), (7, 7));
            }
        }
    }

    #[test]
    fn a_changed_byte_or_a_replay_fails() {
        let version = Version::Tls13;
        let (mut tx, mut rx) = pair(false);
        let mut wire = Vec::new();
        tx.seal(version, APPLICATION_DATA, &[b"hello"], &mut wire);
        let mut bent = wire.clone();
        bent[8] ^= 1;
        assert!(rx.open(version, &mut bent).is_err());
        let (_, mut rx) = pair(false);
        let mut again = wire.clone();
        rx.open(version, &mut wire).unwrap();
        assert!(
            rx.open(version, &mut again).is_err(),
            "a replayed record opened"
        );
    }

    #[test]
    fn headers_and_control_messages() {
        assert_eq!(whole_record(&[23, 3, 3, 0]), Ok(None));
        assert_eq!(whole_record(&[23, 3, 3, 0, 2, 1]), Ok(None));
        assert_eq!(whole_record(&[23, 3, 3, 0, 2, 1, 2, 3]), Ok(Some(7)));
        assert!(whole_record(&[71, 69, 84, 32, 47]).is_err(), "plain HTTP");
        assert!(whole_record(&[23, 3, 3, 0xff, 0xff]).is_err());
        assert_eq!(alert(Version::Tls13, &[1, 0]), Ok(true));
        assert!(alert(Version::Tls13, &[2, 40]).is_err());
        assert_eq!(
            alert(
                Version::Tls12 {
                    explicit_nonce: true
                },
                &[1, 100]
            ),
            Ok(false)
        );
        assert_eq!(
            key_update(Version::Tls13, &[24, 0, 0, 1, 1]),
            Ok(Some(true))
        );
        assert_eq!(
            key_update(Version::Tls13, &[24, 0, 0, 1, 0]),
            Ok(Some(false))
        );
        let tls12 = Version::Tls12 {
            explicit_nonce: false,
        };
        assert_eq!(
            key_update(tls12, &[1, 0, 0, 0]),
            Ok(None),
            "a renegotiation"
        );
        assert!(key_update(Version::Tls13, &[24, 0, 0, 1, 2]).is_err());
        assert!(key_update(Version::Tls13, &[4, 0, 0, 1, 0]).is_err());
    }
}
