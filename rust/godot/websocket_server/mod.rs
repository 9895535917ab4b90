//! `WebSocketServer`: Godot 3's class of that name, for Godot 4. This file declares the
//! class (its properties, with their help, and its signals); each ability's methods are in
//! a file of their own next to it: Godot 3's methods (`godot3`), the signals' emission
//! (`events`), the multiplayer peer, upgrades, groups, statistics, TLS.

use godot::classes::multiplayer_peer::TransferMode;
use godot::classes::{CryptoKey, MultiplayerPeerExtension, TlsOptions, X509Certificate};
use godot::prelude::*;

use super::errors;
use super::monitors::Monitors;
use super::websocket_server_peer::WebSocketServerPeer;
use crate::core::{AllowedOrigins, Event, IdMap, IdSet, Server, TrustedProxies};

mod events;
mod godot3;
mod groups;
mod multiplayer_peer;
mod property;
mod reconnection;
mod stats;
mod threads;
mod tls;
mod upgrades;

/// A WebSocket server: Godot 3's `WebSocketServer`, back in Godot 4.
///
/// Call [method listen], then [method MultiplayerPeer.poll] every frame (e.g. in
/// [method Node._process]): signals are emitted only from `poll()`, on the
/// calling thread, in the order things happened. What arrives while its signals'
/// handlers run is emitted by the same `poll()` (it goes back for it up to 3 times), so
/// such a message is answered in this frame rather than the next. All network work
/// (accepting, TLS, handshakes, reading and writing) runs on background threads, so
/// `poll()` never waits on the network and its cost grows with the number of events, not
/// of connected clients.
///
/// ```gdscript
/// var server := WebSocketServer.new()
///
/// func _ready():
///     server.client_connected.connect(func(id, protocol): print("hello ", id))
///     server.data_received.connect(func(id): print(server.get_peer(id).get_packet()))
///     server.listen(9080)
///
/// func _process(_delta):
///     server.poll()
/// ```
///
/// With `listen(port, protocols, true)` the server is a [MultiplayerPeer] for
/// Godot 4's high-level multiplayer (`multiplayer.multiplayer_peer = server`):
/// stock [WebSocketMultiplayerPeer] clients, desktop or browser, can join.
///
/// **Migrating from Godot 3:** the API is the same. Peers are
/// [WebSocketServerPeer] objects (Godot 4 already has a [WebSocketPeer]). Subprotocols are
/// chosen as Godot does: the first protocol of the client's list that is in yours; a
/// client offering none is refused when you set a list. Nothing is dropped silently: a full
/// inbound buffer slows the client down (TCP backpressure) instead of losing messages, and a
/// full outbound buffer makes `put_packet` return `ERR_OUT_OF_MEMORY`.
///
/// **Threads:** call this class and its peers from the main thread only. Calling them
/// from a GDScript [Thread] aborts the whole game (godot-rust cannot check such calls in the
/// builds that dedicated servers use). No thread is needed: all network work already runs
/// on the server's own threads and `poll()` costs microseconds. Call `poll()` in
/// [method Node._process], in [method Node._physics_process] for a fixed tick rate, or let
/// the scene tree do it by setting the server as `multiplayer.multiplayer_peer`.
///
/// **Editor hot reload:** when the editor reloads the library (a `@tool` script running a
/// server while you rebuild the addon), every server stops and its clients are closed with
/// code 1001; the objects stay and keep their properties. Listen again once the library is
/// back: connect a method to `GDExtensionManager.extension_loaded` (and disconnect it in
/// `_exit_tree()`) that calls [method listen] when [method is_listening] is `false`.
#[derive(GodotClass)]
#[class(init, tool, base = MultiplayerPeerExtension)]
pub struct WebSocketServer {
    /// The address to listen on: `"*"` for every interface (IPv4 and IPv6), or
    /// one IP address, e.g. `"127.0.0.1"` for this machine only. Read by [method listen].
    #[var(get = get_bind_ip, set = set_bind_ip)]
    bind_ip: PhantomVar<GString>,

    /// Seconds a client may take from TCP connect to a completed upgrade (TLS, a PROXY
    /// header, the game's decision and the first message included) before it is dropped.
    /// It never becomes a peer then. Default 3. Applies to clients that connect after it
    /// is set.
    #[var(get = get_handshake_timeout, set = set_handshake_timeout)]
    handshake_timeout: PhantomVar<f64>,

    /// Seconds between pings to every client, to find dead connections (phones that
    /// sleep, pulled cables: no close ever arrives). A client from which nothing at all
    /// arrived for two intervals (no pong, no message) is dropped:
    /// [signal client_disconnected] follows with `was_clean_close = false`. Browsers,
    /// Godot's [WebSocketPeer] and other clients answer pings on their own. `0` (the
    /// default) turns it off. Applies to clients that connect after it is set. The pings
    /// also measure each client's round-trip time.
    #[var(get = get_heartbeat_interval, set = set_heartbeat_interval)]
    heartbeat_interval: PhantomVar<f64>,

    /// Seconds a player whose connection broke stays in the game, waiting to come back
    /// (`0`, the default, turns it off). Only for clients that ask at their upgrade: the
    /// addon's `WebSocketSessionClient` (GDScript) and `websocket_session.js` do. When such
    /// a connection breaks without a close frame, [signal client_away] is emitted and the
    /// peer keeps its id, groups, upgrade data and the messages sent to it (within its
    /// outbound buffer). If the client returns in time, [signal client_back] follows: every
    /// message it missed is delivered first, and every message it sent that did not
    /// arrive reaches [signal data_received] once, in order. Otherwise
    /// [signal client_disconnected] follows with `was_clean_close = false`. A clean close,
    /// [method disconnect_peer] and [method stop] end it at once. Raw mode only: stock
    /// [WebSocketMultiplayerPeer] clients (`gd_mp_api = true`) cannot ask for it.
    /// [codeblock]
    /// server.reconnect_grace_period = 30.0
    /// server.client_away.connect(func(id): players[id].show_as_away())
    /// server.client_back.connect(func(id): players[id].show_as_back())
    /// [/codeblock]
    #[var(get = get_reconnect_grace_period, set = set_reconnect_grace_period)]
    reconnect_grace_period: PhantomVar<f64>,

    /// Most connections open at once, upgrades in progress included (`0`: no limit, the
    /// default). Past it, new clients are answered HTTP 503 and never become peers, so a
    /// flood of half-open sockets cannot use up memory or file descriptors. Applies at once.
    #[var(get = get_max_connections, set = set_max_connections)]
    max_connections: PhantomVar<i64>,

    /// Most connections open at once from one IP address, upgrades in progress included
    /// (`0`: no limit, the default). Past it, that address gets HTTP 503. Applies at once.
    #[var(get = get_max_connections_per_ip, set = set_max_connections_per_ip)]
    max_connections_per_ip: PhantomVar<i64>,

    /// When `true`, every upgrade request waits for the game's decision before it is
    /// answered: [signal upgrade_requested] shows the request, and [method accept_upgrade] or
    /// [method refuse_upgrade] answers it, at once or later (after an [HTTPRequest] to an auth
    /// service), within [member handshake_timeout]; a request still undecided then is refused
    /// with HTTP 503. A refused request never becomes a peer and emits no peer signal.
    /// `false` (the default) lets in every request that passes the subprotocol rule,
    /// [member allowed_origins] and the limits.
    ///
    /// ```gdscript
    /// # Players connect to ws://host:9080/play?token=... (browsers cannot set headers,
    /// # so the token travels in the query string).
    /// var tokens := {"secret-1": "alice", "secret-2": "bob"}
    /// var server := WebSocketServer.new()
    ///
    /// func _ready():
    ///     server.approve_upgrades = true
    ///     server.upgrade_requested.connect(_on_upgrade_requested)
    ///     server.client_connected.connect(_on_client_connected)
    ///     server.listen(9080)
    ///
    /// func _on_upgrade_requested(id: int, request: Dictionary):
    ///     var user = tokens.get(request.query.get("token", ""))
    ///     if user == null:
    ///         server.refuse_upgrade(id, 401, "unknown token")
    ///     else:
    ///         server.accept_upgrade(id, {"user": user})
    ///
    /// func _on_client_connected(id: int, _protocol: String):
    ///     print(server.get_peer(id).get_upgrade_data().user, " joined")
    ///
    /// func _process(_delta):
    ///     server.poll()
    /// ```
    #[var(get = is_approving_upgrades, set = set_approve_upgrades)]
    approve_upgrades: PhantomVar<bool>,

    /// Web pages allowed to connect, by the `Origin` header browsers send: exact origins
    /// (`"https://game.example.com"`, `"http://localhost:8060"`) or one wildcard label
    /// (`"https://*.example.com"`). Any other origin is refused with HTTP 403 before the game
    /// is asked. Empty (the default) allows every origin. Requests without an `Origin`
    /// header are always allowed: native clients (Godot, Python, curl) send none and can
    /// send anything, so this keeps other sites' pages out, it does not authenticate.
    #[var(get = get_allowed_origins, set = set_allowed_origins)]
    allowed_origins: PhantomVar<PackedStringArray>,

    /// Most messages per second one client may send (`0`: no limit, the default). A client
    /// over it is not read until its budget refills (one second's worth may come at once):
    /// a flood slows down through TCP, nothing is lost, other clients are unaffected.
    /// Applies to clients that connect after it is set.
    #[var(get = get_max_messages_per_second, set = set_max_messages_per_second)]
    max_messages_per_second: PhantomVar<i64>,

    /// Most bytes (of message payload) per second one client may send (`0`: no limit, the
    /// default); as [member max_messages_per_second].
    #[var(get = get_max_bytes_per_second, set = set_max_bytes_per_second)]
    max_bytes_per_second: PhantomVar<i64>,

    /// The reverse proxies (nginx, HAProxy, a cloud load balancer) in front of the server:
    /// IP addresses or CIDR ranges, e.g. `["127.0.0.1", "10.0.0.0/8"]`. When a client's TCP
    /// connection comes from one of them, its address is taken from the upgrade request's
    /// `Forwarded: for=` or `X-Forwarded-For` header (the right-most address that is not
    /// itself a trusted proxy): [method get_peer_address], [method get_peer_port] and
    /// [method WebSocketServerPeer.get_connected_host] report it, and
    /// [member max_connections_per_ip] counts it. The port is 0 unless the proxy sends it
    /// (`Forwarded: for="ip:port"`). From any other address those headers are ignored, so a
    /// client cannot spoof its address. Empty (the default) trusts nobody.
    #[var(get = get_trusted_proxies, set = set_trusted_proxies)]
    trusted_proxies: PhantomVar<PackedStringArray>,

    /// When `true`, every connection must start with a PROXY protocol header (v1 or v2), as
    /// L4 load balancers and TLS passthrough send it (HAProxy `send-proxy-v2`, nginx
    /// `stream { proxy_protocol on; }`, cloud network load balancers): the client's address
    /// comes from it. A connection that does not start with a valid header within
    /// [member handshake_timeout] is dropped with nothing sent. When [member trusted_proxies]
    /// is not empty, only those addresses may connect. `false` by default.
    #[var(get = is_proxy_protocol_enabled, set = set_proxy_protocol)]
    proxy_protocol: PhantomVar<bool>,

    /// A path such as `"/healthz"`: a plain HTTP GET of it (no upgrade) on the server's own
    /// port answers `200` with `ok` and the number of peers, or `503` while a
    /// `stop(grace_period)` drains the server, so load balancers and orchestrators can probe
    /// it. `""` (the default) turns it off; every other plain request gets HTTP 426.
    #[var(get = get_health_check_path, set = set_health_check_path)]
    health_check_path: PhantomVar<GString>,

    /// A path such as `"/metrics"`: a plain HTTP GET of it on the server's own port answers
    /// the statistics of [method get_stats] in Prometheus' text format
    /// (`websocket_server_peers`, `websocket_server_connections_refused_total{reason=...}`,
    /// `websocket_server_received_bytes_total` ...), for Prometheus to scrape. `""` (the
    /// default) turns it off. Put it behind your proxy's access rules or [member bind_ip]
    /// if the numbers are not for everyone.
    #[var(get = get_metrics_path, set = set_metrics_path)]
    metrics_path: PhantomVar<GString>,

    /// With `listen(..., true)`: packets the game sends with
    /// `TRANSFER_MODE_UNRELIABLE` or `TRANSFER_MODE_UNRELIABLE_ORDERED` (position updates)
    /// are dropped for a client with more than this many bytes waiting to be sent, and
    /// counted ([method WebSocketServerPeer.get_dropped_packets], `dropped_packets` in
    /// [method get_stats]), so stale state never piles up behind a slow player. Reliable
    /// packets keep their rule: queued, and an error only when the outbound buffer is full.
    /// Default 16384 bytes, a quarter of the default outbound buffer (reliable packets keep
    /// the rest); `0` never drops (unreliable packets are then queued like reliable ones).
    /// On Linux the kernel is also told to hold no more than this many unsent bytes per
    /// client (connections opened after it is set), so a slow player's backlog is here
    /// and its state stays fresh instead of seconds late in the socket's own buffer.
    #[var(get = get_unreliable_drop_threshold, set = set_unreliable_drop_threshold)]
    unreliable_drop_threshold: PhantomVar<i64>,

    /// Compresses messages (permessage-deflate, RFC 7692) for every client that offers it:
    /// every browser, Python `websockets`, Node `ws`. Text and JSON shrink 3 to 10 times on
    /// the wire, which is what a hosted game pays for and what a player on a mobile plan
    /// notices. Clients that offer none, such as Godot's own [WebSocketPeer], go on
    /// uncompressed. Leave it off for binary data that is already compressed (images,
    /// [method PackedByteArray.compress]): that costs CPU and saves nothing. A broadcast is
    /// compressed once for all its recipients, and no connection keeps compression state
    /// between messages, so an idle connection costs no more memory. `false` by default.
    /// Applies to clients that connect after it is set;
    /// [method WebSocketServerPeer.is_compressed] tells which did.
    #[var(get = is_compression_enabled, set = set_compression_enabled)]
    compression_enabled: PhantomVar<bool>,

    /// With [member compression_enabled]: messages shorter than this many bytes go
    /// uncompressed (default 256; below that DEFLATE saves a few bytes and costs more than
    /// it saves). Applies at once.
    #[var(get = get_compression_threshold, set = set_compression_threshold)]
    compression_threshold: PhantomVar<i64>,

    /// Spans [method broadcast] and groups ([method send_to_group]) over every server process
    /// attached to the same Redis, e.g. `"redis://127.0.0.1:6379"` (the processes of a
    /// scaled-out game, see the book's "Deploying"): a message for the lobby reaches the lobby's
    /// clients on every process, and what the other processes send reaches the clients
    /// here; a process's own messages are not delivered twice. Channels are
    /// `<redis_channel_prefix>:all` and `<redis_channel_prefix>:group:<name>`. If Redis is
    /// unreachable or lost, local clients keep being served, [signal redis_error] says so
    /// once, [signal redis_unpublished] reports what the other processes missed, and the
    /// server reconnects by itself ([signal redis_connected]). `""` (the default) is off.
    /// Used by the next [method listen].
    #[var(get = get_redis_url, set = set_redis_url)]
    redis_url: PhantomVar<GString>,

    /// The start of the Redis channel names (see [member redis_url]): give each game or
    /// environment sharing one Redis its own. `"websocket_server"` by default.
    #[var(get = get_redis_channel_prefix, set = set_redis_channel_prefix)]
    redis_channel_prefix: PhantomVar<GString>,

    /// With [member ssl_certificate], makes the server speak TLS (`wss://`).
    /// Set both again while listening to renew the certificate: new connections use the new
    /// one, connected clients stay.
    #[var(set = set_private_key)]
    private_key: Option<Gd<CryptoKey>>,

    /// With [member private_key], makes the server speak TLS (`wss://`).
    #[var(set = set_ssl_certificate)]
    ssl_certificate: Option<Gd<X509Certificate>>,

    /// Extra certificates sent after [member ssl_certificate] in the TLS handshake
    /// (the intermediate CA chain).
    #[var(set = set_ca_chain)]
    ca_chain: Option<Gd<X509Certificate>>,

    /// A Godot 4 [TLSOptions] made with `TLSOptions.server(key, certificate)`;
    /// used instead of [member private_key] and [member ssl_certificate] when set.
    #[var(set = set_tls_options)]
    tls_options: Option<Gd<TlsOptions>>,

    server: Server,
    /// Godot's custom performance monitors of this server (from the first listen()).
    monitors: Option<Monitors>,
    /// New TLS parts that did not fit together yet (e.g. a new key before its
    /// certificate); tried again at the next poll(), which reports what is still wrong.
    tls_pending: bool,
    peers: IdMap<Gd<WebSocketServerPeer>>,
    /// The peers away as the signals told it: `client_away` emitted, `client_back` or
    /// `client_disconnected` not yet.
    away: IdSet,
    /// What the game attached to accepted upgrades, until they become peers.
    upgrade_data: IdMap<Variant>,
    events: Vec<Event>,
    /// The name of the signal emitted for every message, made once (a name made from a
    /// string at each emission takes the engine's global name lock twice).
    #[init(val = StringName::from("data_received"))]
    data_received_name: StringName,
    /// The multiplayer packet last read, alive until the next read (the engine reads it
    /// through the pointer it was given).
    last_packet: bytes::Bytes,
    #[init(val = 0)]
    target_peer: i32,
    #[init(val = TransferMode::RELIABLE)]
    transfer_mode: TransferMode,
    transfer_channel: i32,
    base: Base<MultiplayerPeerExtension>,
}

#[godot_api]
impl WebSocketServer {
    /// Emitted when a client completed the upgrade; [param protocol] is the subprotocol agreed ("" for none).
    #[signal]
    fn client_connected(id: i64, protocol: GString);

    /// Emitted when a client is gone. [param was_clean_close] is `true` when both
    /// close frames were exchanged.
    #[signal]
    fn client_disconnected(id: i64, was_clean_close: bool);

    /// Emitted when a client's connection broke and it may come back as the same peer
    /// within [member reconnect_grace_period]: the peer stays (sends to it are kept).
    /// [signal client_back] or [signal client_disconnected] follows.
    /// [codeblock]
    /// func _on_client_away(id):
    ///     chat.broadcast_text("%s lost the connection..." % names[id])
    /// [/codeblock]
    #[signal]
    fn client_away(id: i64);

    /// Emitted when a client that was away ([signal client_away]) came back: the same
    /// peer again, with nothing lost either way.
    /// [codeblock]
    /// func _on_client_back(id):
    ///     chat.broadcast_text("%s is back" % names[id])
    /// [/codeblock]
    #[signal]
    fn client_back(id: i64);

    /// Emitted when a client sent a close frame. Keep polling until [signal client_disconnected].
    #[signal]
    fn client_close_request(id: i64, code: i64, reason: GString);

    /// Emitted for each upgrade request when [member approve_upgrades] is on: answer it with
    /// [method accept_upgrade] or [method refuse_upgrade]. [param id] is the peer id the
    /// client gets if accepted. [param request] has `path` (without the query), `query` (a
    /// Dictionary of the decoded query parameters), `headers` (names in lower case),
    /// `address` and `port` (the client's, as [member trusted_proxies] or [member proxy_protocol]
    /// resolve them), `protocols` (the subprotocols offered),
    /// `protocol` (the one Godot's rule selected) and `returning` (the id a returning client
    /// claims, `0` for a newcomer: see [member reconnect_grace_period]; its first frame
    /// proves it. Proven, [signal client_back] follows, not [signal client_connected];
    /// else the connection is closed with code 4002 and nothing is emitted).
    #[signal]
    fn upgrade_requested(id: i64, request: VarDictionary);

    /// Emitted when a message sent with [method broadcast] or [method send_to_group] (or a
    /// multiplayer packet to several peers) could not be queued for some peers because their
    /// outbound buffer was full: [param peer_ids] did not get it (everyone else did).
    /// [param group] is the group it was for, "" for a broadcast. Their connection goes on;
    /// send them the state again, or disconnect them if they cannot keep up.
    #[signal]
    fn broadcast_missed(peer_ids: PackedInt32Array, group: GString);

    /// Emitted when the server is connected to Redis ([member redis_url]), at first and
    /// again after an outage.
    #[signal]
    fn redis_connected();

    /// Emitted once when Redis cannot be reached or the connection is lost (the message
    /// says why; it is also printed as an error). Local clients keep being served; the
    /// server retries with backoff until [signal redis_connected].
    #[signal]
    fn redis_error(message: GString);

    /// Emitted when [param count] messages for [param group] ("" for [method broadcast]) could
    /// not be published to Redis: the local clients got them, the other processes did not.
    #[signal]
    fn redis_unpublished(group: GString, count: i64);

    /// Emitted when a `stop(grace_period)` is complete: every client was closed with 1001
    /// (going away) and got its [signal client_disconnected]; the server is stopped and its
    /// port is free. The process can exit now.
    #[signal]
    fn drained();

    /// Emitted for every message received; read it with `get_peer(id).get_packet()`.
    /// When a handler reads all of a client's waiting messages at once (a
    /// `while peer.get_available_packet_count() > 0` loop), the signals of the messages it
    /// already read are not emitted. Not emitted when listening with `gd_mp_api = true`.
    #[signal]
    fn data_received(id: i64);

    // The functions `#[var(get = ..., set = ...)]` names must be in this block (gdext
    // reads them from the primary block only). Each reads or writes one field of the
    // core's settings; a value that is refused is reported with the property's name and
    // changes nothing.

    #[func]
    fn get_bind_ip(&self) -> GString {
        GString::from(&self.server.settings().listen.bind_ip)
    }

    #[func]
    fn set_bind_ip(&mut self, ip: GString) {
        let ip = Ok(ip.to_string());
        self.configure("bind_ip", ip, |s, ip| s.listen.bind_ip = ip);
    }

    #[func]
    fn get_handshake_timeout(&self) -> f64 {
        self.server
            .settings()
            .connections
            .handshake_timeout
            .as_secs_f64()
    }

    #[func]
    fn set_handshake_timeout(&mut self, seconds: f64) {
        let timeout = errors::seconds(seconds, "handshake_timeout");
        self.configure("handshake_timeout", timeout, |s, t| {
            s.connections.handshake_timeout = t
        });
    }

    #[func]
    fn get_heartbeat_interval(&self) -> f64 {
        self.server
            .settings()
            .connections
            .heartbeat_interval
            .as_secs_f64()
    }

    #[func]
    fn set_heartbeat_interval(&mut self, seconds: f64) {
        self.configure_secs("heartbeat_interval", seconds, |s, v| {
            s.connections.heartbeat_interval = v
        });
    }

    #[func]
    fn get_reconnect_grace_period(&self) -> f64 {
        let settings = self.server.settings();
        settings.connections.reconnect_grace_period.as_secs_f64()
    }

    #[func]
    fn set_reconnect_grace_period(&mut self, seconds: f64) {
        self.configure_secs("reconnect_grace_period", seconds, |s, v| {
            s.connections.reconnect_grace_period = v
        });
    }

    #[func]
    fn get_max_connections(&self) -> i64 {
        self.server.settings().live.max_connections as i64
    }

    #[func]
    fn set_max_connections(&mut self, max: i64) {
        self.configure_count("max_connections", max, |s, v| s.live.max_connections = v);
    }

    #[func]
    fn get_max_connections_per_ip(&self) -> i64 {
        self.server.settings().live.max_connections_per_ip as i64
    }

    #[func]
    fn set_max_connections_per_ip(&mut self, max: i64) {
        self.configure_count("max_connections_per_ip", max, |s, v| {
            s.live.max_connections_per_ip = v
        });
    }

    #[func]
    fn is_approving_upgrades(&self) -> bool {
        self.server.settings().live.approve_upgrades
    }

    #[func]
    fn set_approve_upgrades(&mut self, on: bool) {
        self.configure("approve_upgrades", Ok(on), |s, on| {
            s.live.approve_upgrades = on
        });
    }

    #[func]
    fn get_allowed_origins(&self) -> PackedStringArray {
        property::strings(self.server.settings().live.allowed_origins.entries())
    }

    #[func]
    fn set_allowed_origins(&mut self, origins: PackedStringArray) {
        let origins = AllowedOrigins::parse(&property::list(&origins));
        self.configure("allowed_origins", origins, |s, o| {
            s.live.allowed_origins = o
        });
    }

    #[func]
    fn get_max_messages_per_second(&self) -> i64 {
        self.server.settings().connections.max_messages_per_second as i64
    }

    #[func]
    fn set_max_messages_per_second(&mut self, max: i64) {
        self.configure_count("max_messages_per_second", max, |s, v| {
            s.connections.max_messages_per_second = v as u64
        });
    }

    #[func]
    fn get_max_bytes_per_second(&self) -> i64 {
        self.server.settings().connections.max_bytes_per_second as i64
    }

    #[func]
    fn set_max_bytes_per_second(&mut self, max: i64) {
        self.configure_count("max_bytes_per_second", max, |s, v| {
            s.connections.max_bytes_per_second = v as u64
        });
    }

    #[func]
    fn get_trusted_proxies(&self) -> PackedStringArray {
        property::strings(self.server.settings().live.trusted_proxies.entries())
    }

    #[func]
    fn set_trusted_proxies(&mut self, proxies: PackedStringArray) {
        let proxies = TrustedProxies::parse(&property::list(&proxies));
        self.configure("trusted_proxies", proxies, |s, p| {
            s.live.trusted_proxies = p
        });
    }

    #[func]
    fn is_proxy_protocol_enabled(&self) -> bool {
        self.server.settings().live.proxy_protocol
    }

    #[func]
    fn set_proxy_protocol(&mut self, on: bool) {
        self.configure("proxy_protocol", Ok(on), |s, on| s.live.proxy_protocol = on);
    }

    #[func]
    fn get_health_check_path(&self) -> GString {
        GString::from(&self.server.settings().live.health_check_path)
    }

    #[func]
    fn set_health_check_path(&mut self, path: GString) {
        self.configure("health_check_path", Ok(path.to_string()), |s, p| {
            s.live.health_check_path = p
        });
    }

    #[func]
    fn get_metrics_path(&self) -> GString {
        GString::from(&self.server.settings().live.metrics_path)
    }

    #[func]
    fn set_metrics_path(&mut self, path: GString) {
        self.configure("metrics_path", Ok(path.to_string()), |s, p| {
            s.live.metrics_path = p
        });
    }

    #[func]
    fn get_unreliable_drop_threshold(&self) -> i64 {
        self.server.settings().live.unreliable_drop_threshold as i64
    }

    #[func]
    fn set_unreliable_drop_threshold(&mut self, bytes: i64) {
        self.configure_count("unreliable_drop_threshold", bytes, |s, v| {
            s.live.unreliable_drop_threshold = v
        });
    }

    #[func]
    fn is_compression_enabled(&self) -> bool {
        self.server.settings().connections.compression_enabled
    }

    #[func]
    fn set_compression_enabled(&mut self, on: bool) {
        self.configure("compression_enabled", Ok(on), |s, on| {
            s.connections.compression_enabled = on
        });
    }

    #[func]
    fn get_compression_threshold(&self) -> i64 {
        self.server.settings().live.compression_threshold as i64
    }

    #[func]
    fn set_compression_threshold(&mut self, bytes: i64) {
        self.configure_count("compression_threshold", bytes, |s, v| {
            s.live.compression_threshold = v
        });
    }

    #[func]
    fn get_redis_url(&self) -> GString {
        GString::from(&self.server.settings().listen.redis_url)
    }

    #[func]
    fn set_redis_url(&mut self, url: GString) {
        self.configure("redis_url", Ok(url.to_string()), |s, u| {
            s.listen.redis_url = u
        });
    }

    #[func]
    fn get_redis_channel_prefix(&self) -> GString {
        GString::from(&self.server.settings().listen.redis_channel_prefix)
    }

    #[func]
    fn set_redis_channel_prefix(&mut self, prefix: GString) {
        self.configure("redis_channel_prefix", Ok(prefix.to_string()), |s, p| {
            s.listen.redis_channel_prefix = p
        });
    }

    #[func]
    fn set_private_key(&mut self, key: Option<Gd<CryptoKey>>) {
        self.private_key = key;
        self.renew_tls();
    }

    #[func]
    fn set_ssl_certificate(&mut self, certificate: Option<Gd<X509Certificate>>) {
        self.ssl_certificate = certificate;
        self.renew_tls();
    }

    #[func]
    fn set_ca_chain(&mut self, chain: Option<Gd<X509Certificate>>) {
        self.ca_chain = chain;
        self.renew_tls();
    }

    #[func]
    fn set_tls_options(&mut self, options: Option<Gd<TlsOptions>>) {
        self.tls_options = options;
        self.renew_tls();
    }
}
