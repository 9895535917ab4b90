//! The TLS handshake, driven through rustls' unbuffered API so that the bytes after it
//! stay ours, then handed over as keys and a rustls `KernelConnection` (which computes
//! the keys of TLS 1.3 key updates).

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::kernel::KernelConnection;
use tokio_rustls::rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use tokio_rustls::rustls::unbuffered::{ConnectionState, EncodeError};
use tokio_rustls::rustls::{ConnectionTrafficSecrets, ExtractedSecrets};
use tokio_rustls::rustls::{ProtocolVersion, ServerConfig};

use super::SCRATCH;
use super::records::Version;

/// What the handshake leaves: the keys, rustls' key schedule, the bytes read past the
/// handshake and any application data they already held.
pub(crate) struct Handshaken {
    pub secrets: ExtractedSecrets,
    pub kernel: KernelConnection<ServerConnectionData>,
    pub version: Version,
    /// Bytes read after the handshake's last record (part of a record at most).
    pub unread: Vec<u8>,
    /// Application data rustls decrypted while finishing the handshake.
    pub plain: Vec<u8>,
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

thread_local! {
    /// What rustls gives to send, before the socket takes it.
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Where a handshake stands after rustls has had what arrived.
enum Step {
    Read,
    Done,
}

/// Runs the server side of a TLS handshake on `tcp`. `config` must have
/// `enable_secret_extraction` set. What a connection keeps while it waits for the
/// client is rustls' state and the bytes of a record not yet whole: reads and writes
/// go through this thread's buffers, so that a burst of handshakes does not leave
/// the heap full of holes between the connections that stay.
pub(crate) async fn handshake(
    config: Arc<ServerConfig>,
    tcp: &mut TcpStream,
) -> io::Result<Handshaken> {
    let mut conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
    let mut incoming = Vec::new();
    let mut plain = Vec::new();
    loop {
        let mut unsent = Vec::new();
        let step = OUT.with_borrow_mut(|out| {
            out.clear();
            let step = drive(&mut conn, &mut incoming, out, &mut plain);
            let mut written = 0;
            while written < out.len() {
                match tcp.try_write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            unsent.extend_from_slice(&out[written..]);
            step
        })?;
        if !unsent.is_empty() {
            tcp.write_all(&unsent).await?;
        }
        if incoming.is_empty() {
            incoming = Vec::new();
        }
        if let Step::Done = step {
            break;
        }
        // rustls refuses a handshake message over 64 KiB; its records, with their
        // headers, stay here until it is whole.
        if incoming.len() > 2 * u16::MAX as usize {
            return Err(tls_error("handshake message too large"));
        }
        loop {
            tcp.readable().await?;
            let read = SCRATCH.with_borrow_mut(|scratch| {
                let n = tcp.try_read(scratch)?;
                incoming.extend_from_slice(&scratch[..n]);
                Ok::<_, io::Error>(n)
            });
            match read {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
    let (secrets, kernel) = conn.dangerous_into_kernel_connection().map_err(tls_error)?;
    let version = match (kernel.protocol_version(), &secrets.tx.1) {
        (ProtocolVersion::TLSv1_3, _) => Version::Tls13,
        (ProtocolVersion::TLSv1_2, ConnectionTrafficSecrets::Chacha20Poly1305 { .. }) => {
            Version::Tls12 {
                explicit_nonce: false,
            }
        }
        (ProtocolVersion::TLSv1_2, _) => Version::Tls12 {
            explicit_nonce: true,
        },
        (other, _) => return Err(tls_error(format!("unsupported TLS version {other:?}"))),
    };
    incoming.shrink_to_fit();
    plain.shrink_to_fit();
    Ok(Handshaken {
        secrets,
        kernel,
        version,
        unread: incoming,
        plain,
    })
}

/// Gives rustls what has arrived until it needs more or the handshake is done; what it
/// has to send is appended to `out`, application data that came with the handshake's
/// end to `plain`.
fn drive(
    conn: &mut UnbufferedServerConnection,
    incoming: &mut Vec<u8>,
    out: &mut Vec<u8>,
    plain: &mut Vec<u8>,
) -> io::Result<Step> {
    loop {
        let status = conn.process_tls_records(incoming);
        let discard = status.discard;
        let waiting = match status.state.map_err(tls_error)? {
            ConnectionState::EncodeTlsData(mut data) => {
                let at = out.len();
                out.resize(at + 4096, 0);
                let written = match data.encode(&mut out[at..]) {
                    Ok(n) => n,
                    Err(EncodeError::InsufficientSize(need)) => {
                        out.resize(at + need.required_size, 0);
                        data.encode(&mut out[at..]).map_err(tls_error)?
                    }
                    Err(e) => return Err(tls_error(e)),
                };
                out.truncate(at + written);
                false
            }
            // Sent by the caller once rustls wants to read.
            ConnectionState::TransmitTlsData(data) => {
                data.done();
                false
            }
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    plain.extend_from_slice(record.map_err(tls_error)?.payload);
                }
                false
            }
            ConnectionState::BlockedHandshake => true,
            // The server may write from its Finished on; the handshake ends with the
            // client's.
            ConnectionState::WriteTraffic(_) => true,
            ConnectionState::PeerClosed | ConnectionState::Closed => {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            _ => return Err(tls_error("unexpected TLS state in the handshake")),
        };
        incoming.drain(..discard);
        if waiting {
            return Ok(if conn.is_handshaking() {
                Step::Read
            } else {
                Step::Done
            });
        }
    }
}
