//! The listening socket and its accept loop: each accepted connection is admitted under
//! the connection limits and handed to a connection task, or refused (also when the
//! process is out of file descriptors: `descriptors.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::core::connection;
use crate::core::error::Error;
use crate::core::observability::stats::Refused;
use crate::core::policy::limits::{Admission, Caps, LimitRefusal};
use crate::core::server::descriptors::{self, Spare};
use crate::core::server_shared::{RawEvent, ServerShared, stopped};
use crate::core::upgrade::opening;

/// Listen backlog: a burst of clients connecting at once must not overflow it
/// (Godot's own TCPServer uses 8).
const BACKLOG: i32 = 1024;
/// Connections taken from the backlog in one turn of the accept loop at most.
const ACCEPT_BATCH: usize = 128;

/// Accepts every pending connection until the server stops or the runtime shuts down,
/// then drops the listener (freeing the port), tells every connection to close with
/// 1001, and reports that on `done`.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<ServerShared>,
    mut shutdown: watch::Receiver<bool>,
    mut going_away: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let (stop_connections, for_connections) = watch::channel(false);
    let mut spare = Spare::new();
    loop {
        let first = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = stopped(&mut going_away) => break,
            accepted = listener.accept() => accepted,
        };
        // The backlog is emptied in one turn (up to ACCEPT_BATCH): while handshakes keep
        // the threads busy, a loop that took one connection per turn would let the
        // backlog overflow and the clients wait for TCP's retransmissions.
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(accepted) = next.take() {
            match accepted {
                Ok((tcp, remote)) => admit_or_refuse(&shared, tcp, remote, &for_connections),
                Err(e) if descriptors::is_exhaustion(&e) => {
                    let plain = shared.settings().connections.tls.is_none();
                    if spare.refuse_one(&listener, plain) {
                        shared.counters.refused(Refused::FileDescriptors);
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if let Some((refused, limit)) = spare.report() {
                        shared.push(RawEvent::OutOfFileDescriptors { refused, limit });
                    }
                    break;
                }
                Err(e) => {
                    // Out of memory and the like: back off instead of spinning.
                    if !is_per_connection_error(&e) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    break;
                }
            }
            taken += 1;
            if taken < ACCEPT_BATCH {
                next = listener.accept().now_or_never();
            }
        }
    }
    drop(listener);
    let _ = stop_connections.send(true);
    shared.fanout.close_all(1001);
    let _ = done.send(());
}

/// An accepted connection, admitted under the limits and served, or refused.
fn admit_or_refuse(
    shared: &Arc<ServerShared>,
    tcp: TcpStream,
    remote: SocketAddr,
    for_connections: &watch::Receiver<bool>,
) {
    match admit(shared, remote) {
        Admission::Admitted(slot) => {
            let stop = for_connections.clone();
            tokio::spawn(connection::serve(tcp, remote, shared.clone(), stop, slot));
        }
        Admission::Refused(why, refusing) => {
            shared.counters.refused(counted(why));
            tokio::spawn(opening::refuse(tcp, shared.clone(), why, refusing));
        }
        Admission::Dropped(why) => {
            shared.counters.refused(counted(why));
            drop(tcp);
        }
    }
}

fn counted(why: LimitRefusal) -> Refused {
    match why {
        LimitRefusal::Total => Refused::Limit,
        LimitRefusal::PerIp => Refused::PerIpLimit,
    }
}

fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// Binds a listening socket: `"*"` is every interface, IPv6 and IPv4 together where
/// the OS allows it.
pub(super) fn bind(bind_ip: &str, port: u16) -> Result<std::net::TcpListener, Error> {
    if bind_ip == "*" {
        let any6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
        return match bind_addr(any6, true) {
            Ok(l) => Ok(l),
            Err(Error::Bind { source, .. }) if source.kind() != std::io::ErrorKind::AddrInUse => {
                bind_addr(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), false)
            }
            Err(e) => Err(e),
        };
    }
    let ip: IpAddr = bind_ip
        .trim()
        .parse()
        .map_err(|_| Error::InvalidAddress(bind_ip.to_string()))?;
    bind_addr(SocketAddr::new(ip, port), false)
}

fn bind_addr(addr: SocketAddr, dual_stack: bool) -> Result<std::net::TcpListener, Error> {
    let fail = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if dual_stack {
        socket.set_only_v6(false).map_err(fail)?;
    }
    // Lets listen() succeed again right after stop() while old connections linger in
    // TIME_WAIT. (On Windows this option would allow two listeners: not set there.)
    #[cfg(not(windows))]
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
}

/// Takes a connection slot under the limits as they are now.
fn admit(shared: &ServerShared, remote: SocketAddr) -> Admission {
    let settings = shared.settings();
    let live = &settings.live;
    let caps = Caps {
        total: live.max_connections,
        per_ip: live.max_connections_per_ip,
    };
    let per_ip = shared.per_ip_at_accept(live, remote);
    shared.limits.admit(remote.ip(), per_ip, caps)
}
