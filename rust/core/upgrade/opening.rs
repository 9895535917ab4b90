//! A connection's way in: TLS, the upgrade request, who gets in (limits, refusals, the
//! browsers' Origin, the game's decision), and the HTTP answer. Everything within the
//! handshake timeout; what is refused never becomes a peer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout, timeout_at};

use crate::core::compression::{self, Agreed};
use crate::core::ids::PeerId;
use crate::core::observability::stats::Refused;
use crate::core::policy::gate::{self, Decision, UpgradeRequest};
use crate::core::policy::limits::{LimitRefusal, Refusing, Slot};
use crate::core::policy::proxies;
use crate::core::policy::settings::LiveSettings;
use crate::core::request::RequestInfo;
use crate::core::runtime;
use crate::core::server_shared::{RawEvent, ServerShared};
use crate::core::session::{Ask, Session, wire};
use crate::core::socket::stream::ServerStream;
use crate::core::socket::tls::TlsConfig;
use crate::core::socket::tls_stream::TlsStream;
use crate::core::upgrade::endpoints;
use crate::core::upgrade::handshake::{self, ReadError, Refusal};
use crate::core::upgrade::proxy_protocol::{self, Header};

/// How long a refused or failed connection may take to say goodbye.
pub(crate) const LINGER: Duration = Duration::from_millis(500);
/// What a client over `max_connections` is told.
const TOTAL_REFUSAL: &str = "the server is full (max_connections); try again later";
/// What a client over `max_connections_per_ip` is told.
const PER_IP_REFUSAL: &str = "too many connections from your address (max_connections_per_ip)";
/// Longest time a connection refused by a limit may take to be told so (HTTP 503).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection that completed its upgrade.
pub(crate) struct Opened {
    pub stream: ServerStream,
    pub request: RequestInfo,
    /// Bytes the client sent after the request (the start of its first frame).
    pub leftover: Vec<u8>,
    pub id: PeerId,
    /// The client's address: the TCP peer's, or what a trusted proxy said.
    pub remote: SocketAddr,
    /// Whether the game was asked (it then hears of the end if no peer follows).
    pub asked: bool,
    /// The client asked for a session (raw mode only).
    pub ask: Option<Ask>,
    /// The live session of the peer it claims to return as, with the peer's id.
    pub returning: Option<(PeerId, Arc<Session>)>,
    /// permessage-deflate, when the server compresses and the client offered it.
    pub deflate: Option<Agreed>,
}

/// TLS (when configured), the upgrade request and who gets in, until `deadline`. The
/// error is why the connection did not become a peer (`None`: a plain request such as
/// the health check, answered and not counted as a refusal).
pub(crate) async fn open(
    mut tcp: TcpStream,
    mut remote: SocketAddr,
    shared: &ServerShared,
    deadline: Instant,
    slot: &mut Slot,
) -> Result<Opened, Option<Refused>> {
    let settings = shared.settings();
    let live = &settings.live;
    let proxies = live.trusted_proxies.ranges();
    let from_proxy = proxies::is_trusted(proxies, remote.ip());
    let max_per_ip = live.max_connections_per_ip;
    // A refusal by the per-address limit, once the client's address is known; answered
    // after the request is read, as every refusal.
    let mut over_limit = None;
    if live.proxy_protocol {
        if !proxies.is_empty() && !from_proxy {
            return Err(Some(Refused::BadRequest));
        }
        match timeout_at(deadline, proxy_protocol::read_header(&mut tcp)).await {
            Err(_) => return Err(Some(Refused::HandshakeTimeout)),
            Ok(None) => return Err(Some(Refused::BadRequest)),
            Ok(Some(Header::Local)) => {}
            Ok(Some(Header::Proxied(client))) => {
                remote = client;
                over_limit = slot.rebind(client.ip(), max_per_ip).err();
            }
        }
    }
    let tls = settings.connections.tls.as_ref();
    let mut stream = accept_tls(tcp, tls, deadline).await?;
    let (buf, head_len) = match timeout_at(deadline, handshake::read_request(&mut stream)).await {
        Err(_) => return Err(Some(Refused::HandshakeTimeout)),
        Ok(Ok(read)) => read,
        Ok(Err(ReadError::Refused(refusal))) => {
            return Err(refuse_with(shared, stream, refusal).await);
        }
        Ok(Err(_)) => return Err(Some(Refused::BadRequest)),
    };
    let head = &buf[..head_len];
    // What applies at once is read again now that the request is here.
    let settings = shared.settings();
    let live = &settings.live;
    if let Some(response) = endpoints::respond(shared, live, head) {
        let _ = timeout(LINGER, stream.write_all(&response)).await;
        linger(&mut stream).await;
        return Err(None);
    }
    let checked = handshake::check_request(head, &shared.protocols).and_then(|request| {
        if from_proxy && !live.proxy_protocol {
            remote = proxies::client_address(proxies, remote, &request.headers);
            over_limit = slot.rebind(remote.ip(), max_per_ip).err();
        }
        match over_limit {
            Some(_) => Err(Refusal::new(503, PER_IP_REFUSAL).because(Refused::PerIpLimit)),
            None => admit(shared, live, request),
        }
    });
    let mut request = match checked {
        Ok(request) => request,
        Err(refusal) => return Err(refuse_with(shared, stream, refusal).await),
    };
    let grace = settings.connections.reconnect_grace_period;
    let (ask, returning) = session_asked(shared, grace, &mut request);
    // A slot lent by an away peer: for a return only.
    if let (Some(why), None) = (slot.provisional(), &returning) {
        let refusal = match why {
            LimitRefusal::Total => Refusal::new(503, TOTAL_REFUSAL).because(Refused::Limit),
            LimitRefusal::PerIp => Refusal::new(503, PER_IP_REFUSAL).because(Refused::PerIpLimit),
        };
        return Err(refuse_with(shared, stream, refusal).await);
    }
    let id = shared.next_id();
    let asked = live.approve_upgrades;
    let mut extra = Vec::new();
    if asked {
        let returning = returning.as_ref().map(|(id, _)| *id);
        match decide(shared, &request, id, remote, returning, deadline).await {
            Ok((protocol, headers)) => {
                if !protocol.is_empty() {
                    request.protocol = protocol;
                }
                extra = headers;
            }
            Err(refusal) => {
                shared.push(RawEvent::UpgradeEnded(id));
                return Err(refuse_with(shared, stream, refusal).await);
            }
        }
    }
    let deflate = match settings.connections.compression_enabled {
        true => compression::negotiate(&request.headers),
        false => None,
    };
    let deflate = deflate.map(|(agreed, answer)| {
        extra.push(("Sec-WebSocket-Extensions".to_string(), answer));
        agreed
    });
    let response = handshake::accept_response(&request, &extra);
    let written = timeout_at(deadline + LINGER, async {
        stream.write_all(&response).await?;
        stream.flush().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        if asked {
            shared.push(RawEvent::UpgradeEnded(id));
        }
        return Err(Some(Refused::BadRequest));
    }
    Ok(Opened {
        stream,
        request,
        leftover: buf[head_len..].to_vec(),
        id,
        remote,
        asked,
        ask,
        returning,
        deflate,
    })
}

/// Takes a session request out of the path (raw mode; with `reconnect_grace_period` on)
/// and finds the live session of the peer it claims to return as (its hello will prove
/// it, or it is turned away).
fn session_asked(
    shared: &ServerShared,
    grace: Duration,
    request: &mut RequestInfo,
) -> (Option<Ask>, Option<(PeerId, Arc<Session>)>) {
    if shared.multiplayer {
        return (None, None);
    }
    let (path, ask) = wire::take_ask(&request.path);
    request.path = path;
    let returning = ask
        .and_then(|a| a.returning)
        .filter(|_| !grace.is_zero())
        .and_then(|id| Some((id, shared.sessions.find(id)?)));
    (ask, returning)
}

async fn accept_tls(
    tcp: TcpStream,
    tls: Option<&TlsConfig>,
    deadline: Instant,
) -> Result<ServerStream, Option<Refused>> {
    match tls {
        None => Ok(ServerStream::Plain(tcp)),
        Some(tls) => match timeout_at(deadline, TlsStream::accept(tls.config.clone(), tcp)).await {
            Ok(Ok(tls)) => Ok(ServerStream::Tls(Box::new(tls))),
            Ok(Err(_)) => Err(Some(Refused::BadRequest)),
            Err(_) => Err(Some(Refused::HandshakeTimeout)),
        },
    }
}

/// The server's own rules, before the game is asked: the browsers' Origin, then
/// `refuse_new_connections` and draining.
fn admit(
    shared: &ServerShared,
    live: &LiveSettings,
    request: RequestInfo,
) -> Result<RequestInfo, Refusal> {
    let origin = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("origin"))
        .map(|(_, v)| v.as_str());
    if !gate::origin_allowed(live.allowed_origins.rules(), origin) {
        return Err(Refusal::new(
            403,
            format!(
                "origin {} is not allowed to connect to this server",
                origin.unwrap_or_default()
            ),
        )
        .because(Refused::Origin));
    }
    match refusal(shared, live) {
        Some(refusal) => Err(refusal),
        None => Ok(request),
    }
}

/// Asks the game and waits for its decision until `deadline`: the subprotocol and extra
/// headers to answer with, or the refusal.
async fn decide(
    shared: &ServerShared,
    request: &RequestInfo,
    id: PeerId,
    remote: SocketAddr,
    returning: Option<PeerId>,
    deadline: Instant,
) -> Result<(String, Vec<(String, String)>), Refusal> {
    let (reply, decision) = oneshot::channel();
    let asked = UpgradeRequest {
        id,
        path: request.path.clone(),
        headers: request.headers.clone(),
        remote,
        offered: handshake::offered_protocols(&request.headers),
        protocol: request.protocol.clone(),
        returning,
    };
    shared.push(RawEvent::UpgradeRequested(asked, reply));
    match timeout_at(deadline, decision).await {
        Ok(Ok(Decision::Accept { protocol, headers })) => Ok((protocol, headers)),
        Ok(Ok(Decision::Refuse { status, body })) => {
            Err(Refusal::with_body(status, body).because(Refused::Decision))
        }
        // The server stopped before deciding.
        Ok(Err(_)) => Err(Refusal::new(503, "the server stopped").because(Refused::Refusing)),
        Err(_) => Err(Refusal::new(
            503,
            "the server did not decide on this connection in time; try again",
        )
        .because(Refused::HandshakeTimeout)),
    }
}

/// Counts a refusal at once (the goodbye may take a moment), then answers it; `None`:
/// nothing left for the caller to count.
async fn refuse_with(
    shared: &ServerShared,
    stream: ServerStream,
    refusal: Refusal,
) -> Option<Refused> {
    shared.counters.refused(refusal.why);
    answer(stream, refusal).await;
    None
}

/// Writes a refusal and says goodbye.
async fn answer(mut stream: ServerStream, refusal: Refusal) {
    let _ = timeout(LINGER, stream.write_all(&refusal.response())).await;
    linger(&mut stream).await;
}

/// Answers a connection turned away by a connection limit: TLS when configured, then the
/// request is read and answered with HTTP 503 (bounded in time; never a peer).
pub(crate) async fn refuse(
    tcp: TcpStream,
    shared: Arc<ServerShared>,
    why: LimitRefusal,
    refusing: Refusing,
) {
    let _refusing = refusing;
    let _live = runtime::LiveConnection::new();
    let detail = match why {
        LimitRefusal::Total => TOTAL_REFUSAL,
        LimitRefusal::PerIp => PER_IP_REFUSAL,
    };
    let settings = shared.settings();
    let deadline = Instant::now() + settings.connections.handshake_timeout.min(REFUSAL_TIMEOUT);
    let Ok(mut stream) = accept_tls(tcp, settings.connections.tls.as_ref(), deadline).await else {
        return;
    };
    if let Ok(Ok(_)) = timeout_at(deadline, handshake::read_request(&mut stream)).await {
        answer(stream, Refusal::new(503, detail)).await;
    }
}

/// Half-closes and reads until the client closes too (bounded), so that the last
/// bytes sent are not lost to a TCP reset.
pub(crate) async fn linger(stream: &mut ServerStream) {
    let _ = timeout(LINGER, async {
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Why a valid upgrade request is turned away now, if it is.
fn refusal(shared: &ServerShared, live: &LiveSettings) -> Option<Refusal> {
    if shared.draining() {
        return Some(
            Refusal::new(503, "the server is shutting down; connect to another one")
                .because(Refused::Refusing),
        );
    }
    live.refuse_new_connections
        .then(|| Refusal::new(503, "the server refuses new connections").because(Refused::Refusing))
}
