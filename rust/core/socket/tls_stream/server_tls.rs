//! The server side of a TLS connection, without I/O: rustls' unbuffered connection does
//! the handshake and every record (opening, sealing, key updates, alerts, the limits on
//! what a peer may send); this hands it the bytes that arrived and collects what it has
//! to send and the application data it opened, into the caller's buffers.

use std::io;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::server::UnbufferedServerConnection;
use tokio_rustls::rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// What one call of [`ServerTls::process`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Processed {
    /// Bytes taken from the front of `incoming` (whole records; a partial one stays).
    pub consumed: usize,
    /// Bytes of the application data given to write that were sealed into `out`.
    pub written: usize,
}

/// One server-side TLS connection's protocol state.
pub(crate) struct ServerTls {
    conn: UnbufferedServerConnection,
    /// The peer sent close_notify (or closed): nothing more will be read.
    peer_closed: bool,
    /// close_notify is sealed: nothing more will be written.
    write_closed: bool,
    /// A fatal error happened (its alert, if any, was handed out): the connection is over.
    failed: bool,
}

impl ServerTls {
    pub fn new(config: Arc<ServerConfig>) -> io::Result<Self> {
        Ok(ServerTls {
            conn: UnbufferedServerConnection::new(config).map_err(tls_error)?,
            peer_closed: false,
            write_closed: false,
            failed: false,
        })
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the peer has closed its side (close_notify): nothing more will be read.
    pub fn is_peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Hands rustls the records in `incoming` and advances the connection as far as they
    /// allow: what rustls has to send (handshake messages, key updates, alerts) is
    /// appended to `out`, opened application data to `plain`. Then, once the handshake
    /// is done, `then` is carried out: application data sealed into `out` after anything
    /// rustls had queued before it, or close_notify.
    ///
    /// On a protocol error the fatal alert rustls queued is appended to `out` (send it
    /// before closing), and every later call fails.
    pub fn process(
        &mut self,
        incoming: &mut [u8],
        out: &mut Vec<u8>,
        plain: &mut Vec<u8>,
        then: Then<'_>,
    ) -> io::Result<Processed> {
        if self.failed {
            return Err(tls_error("the connection has failed"));
        }
        let mut then = match then {
            Then::Write([]) => Then::Nothing,
            Then::Write(_) if self.write_closed => return Err(io::ErrorKind::BrokenPipe.into()),
            Then::Close if self.write_closed => Then::Nothing,
            other => other,
        };
        let mut done = Processed::default();
        loop {
            let status = self
                .conn
                .process_tls_records(&mut incoming[done.consumed..]);
            let discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(e) => {
                    done.consumed += discard;
                    self.failed = true;
                    self.hand_out_alert(&mut incoming[done.consumed..], out);
                    return Err(tls_error(e));
                }
            };
            let more = match state {
                ConnectionState::EncodeTlsData(mut data) => {
                    encode(out, |room| data.encode(room))?;
                    true
                }
                // `out` is sent by the caller.
                ConnectionState::TransmitTlsData(data) => {
                    data.done();
                    true
                }
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        plain.extend_from_slice(record.map_err(tls_error)?.payload);
                    }
                    true
                }
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    true
                }
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    false
                }
                // Also reached in TLS 1.3 between the server's Finished and the client's:
                // the caller asks for nothing then.
                ConnectionState::WriteTraffic(mut traffic) => {
                    match std::mem::replace(&mut then, Then::Nothing) {
                        Then::Nothing => {}
                        Then::Write(data) => {
                            // Room for the records' headers, nonces and tags too.
                            let room = data.len() + (data.len() / (16 * 1024) + 1) * 64;
                            encrypt(out, room, |room| traffic.encrypt(data, room))?;
                            done.written = data.len();
                        }
                        Then::Close => {
                            encrypt(out, 64, |room| traffic.queue_close_notify(room))?;
                            self.write_closed = true;
                        }
                    }
                    false
                }
                ConnectionState::BlockedHandshake => false,
                // Early data is never accepted (`max_early_data_size` is 0).
                _ => {
                    self.failed = true;
                    return Err(tls_error("unexpected state"));
                }
            };
            done.consumed += discard;
            if !more {
                return Ok(done);
            }
        }
    }

    /// After an error: the alert rustls queued for the peer, appended to `out`.
    fn hand_out_alert(&mut self, incoming: &mut [u8], out: &mut Vec<u8>) {
        let status = self.conn.process_tls_records(incoming);
        if let Ok(ConnectionState::EncodeTlsData(mut data)) = status.state {
            let _ = encode(out, |room| data.encode(room));
        }
    }
}

/// What [`ServerTls::process`] does once rustls has had the records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Then<'a> {
    Nothing,
    /// Seal this application data.
    Write(&'a [u8]),
    /// Seal close_notify; nothing is written after it.
    Close,
}

/// Appends what rustls writes into a slice to `out`: `room` bytes at first, then as many
/// as it says it needs.
fn append<E: std::fmt::Display>(
    out: &mut Vec<u8>,
    room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needs: impl Fn(&E) -> Option<usize>,
) -> io::Result<()> {
    let at = out.len();
    out.resize(at + room, 0);
    let written = match write(&mut out[at..]) {
        Ok(n) => Ok(n),
        Err(e) => match needs(&e) {
            Some(size) => {
                out.resize(at + size, 0);
                write(&mut out[at..])
            }
            None => Err(e),
        },
    };
    match written {
        Ok(n) => {
            out.truncate(at + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(at);
            Err(tls_error(e))
        }
    }
}

/// A handshake message or alert rustls has queued, appended to `out`.
fn encode(
    out: &mut Vec<u8>,
    write: impl FnMut(&mut [u8]) -> Result<usize, EncodeError>,
) -> io::Result<()> {
    append(out, 4096, write, |e| match e {
        EncodeError::InsufficientSize(need) => Some(need.required_size),
        _ => None,
    })
}

/// Application data or close_notify sealed by rustls, appended to `out`; `room` is what
/// it should take.
fn encrypt(
    out: &mut Vec<u8>,
    room: usize,
    write: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> io::Result<()> {
    append(out, room + 256, write, |e| match e {
        EncryptError::InsufficientSize(need) => Some(need.required_size),
        _ => None,
    })
}
