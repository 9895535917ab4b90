//! How much of what is not sent yet the kernel may hold for a connection.

use tokio::net::TcpStream;

/// Lets the kernel hold at most about `bytes` of data not sent yet on `tcp`
/// (`TCP_NOTSENT_LOWAT`, Linux and Android; elsewhere nothing); 0 leaves the kernel's
/// default. Without it, a socket to a slow client takes megabytes: a backlog the peer's
/// queue never sees, so stale multiplayer state can no longer be dropped and arrives
/// seconds late. With it, the backlog waits in the peer's queue.
pub(crate) fn limit_unsent(tcp: &TcpStream, bytes: usize) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if bytes > 0 {
        let _ =
            socket2::SockRef::from(tcp).set_tcp_notsent_lowat(bytes.min(u32::MAX as usize) as u32);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (tcp, bytes);
}
