//! `WebSocketServer`: Godot 3's class of that name, for Godot 4.

use std::collections::HashMap;

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{
    CryptoKey, IMultiplayerPeerExtension, MultiplayerPeerExtension, TlsOptions, X509Certificate,
};
use godot::global::Error as GdError;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

use super::errors;
use super::monitors::Monitors;
use super::raw_packet;
use super::request;
use super::tls::TlsParts;
use super::websocket_server_peer::WebSocketServerPeer;
use crate::core::{Buffers, Event, IdMap, RedisEvent, Refused, Server, multiplayer};

/// A WebSocket server: Godot 3's `WebSocketServer`, back in Godot 4.
///
/// Call [method listen], then [method MultiplayerPeer.poll] every frame (e.g. in
/// [method Node._process]): signals are emitted only from `poll()`, on the
/// calling thread, in the order things happened. All network work (accepting, TLS,
/// handshakes, reading and writing) runs on background threads, so `poll()`
/// never waits on the network and its cost grows with the number of events, not of
/// connected clients.
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
    #[var]
    #[init(val = GString::from("*"))]
    bind_ip: GString,

    /// Seconds a client may take from TCP connect to a completed upgrade (TLS included)
    /// before it is dropped. It never becomes a peer then. Read by [method listen].
    #[var]
    #[init(val = 3.0)]
    handshake_timeout: f64,

    /// Seconds between pings to every client, to find dead connections (phones that
    /// sleep, pulled cables: no close ever arrives). A client from which nothing at all
    /// arrived for two intervals (no pong, no message) is dropped:
    /// [signal client_disconnected] follows with `was_clean_close = false`. Browsers,
    /// Godot's [WebSocketPeer] and other clients answer pings on their own. `0` (the
    /// default) turns it off. Applies to clients that connect after it is set. The pings
    /// also measure each client's round-trip time.
    #[var(get = get_heartbeat_interval, set = set_heartbeat_interval)]
    heartbeat_interval: PhantomVar<f64>,

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
    allowed_origins: PackedStringArray,

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
    trusted_proxies: PackedStringArray,

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
    #[var(get = get_unreliable_drop_threshold, set = set_unreliable_drop_threshold)]
    unreliable_drop_threshold: PhantomVar<i64>,

    /// Spans [method broadcast] and groups ([method send_to_group]) over every server process
    /// attached to the same Redis, e.g. `"redis://127.0.0.1:6379"` (the processes of a
    /// scaled-out game, see README "Deploying"): a message for the lobby reaches the lobby's
    /// clients on every process, and what the other processes send reaches the clients
    /// here; a process's own messages are not delivered twice. Channels are
    /// `<redis_channel_prefix>:all` and `<redis_channel_prefix>:group:<name>`. If Redis is
    /// unreachable or lost, local clients keep being served, [signal redis_error] says so
    /// once, [signal redis_unpublished] reports what the other processes missed, and the
    /// server reconnects by itself ([signal redis_connected]). `""` (the default) is off.
    /// Used by the next [method listen].
    #[var(get = get_redis_url, set = set_redis_url)]
    redis_url: GString,

    /// The start of the Redis channel names (see [member redis_url]): give each game or
    /// environment sharing one Redis its own. `"websocket_server"` by default.
    #[var(get = get_redis_channel_prefix, set = set_redis_channel_prefix)]
    redis_channel_prefix: PhantomVar<GString>,

    /// With [member ssl_certificate], makes the server speak TLS (`wss://`).
    /// Set both again while listening to renew the certificate: new connections use the new
    /// one, connected clients stay.
    #[var(get = get_private_key, set = set_private_key)]
    private_key: Option<Gd<CryptoKey>>,

    /// With [member private_key], makes the server speak TLS (`wss://`).
    #[var(get = get_ssl_certificate, set = set_ssl_certificate)]
    ssl_certificate: Option<Gd<X509Certificate>>,

    /// Extra certificates sent after [member ssl_certificate] in the TLS handshake
    /// (the intermediate CA chain).
    #[var(get = get_ca_chain, set = set_ca_chain)]
    ca_chain: Option<Gd<X509Certificate>>,

    /// A Godot 4 [TLSOptions] made with `TLSOptions.server(key, certificate)`;
    /// used instead of [member private_key] and [member ssl_certificate] when set.
    #[var(get = get_tls_options, set = set_tls_options)]
    tls_options: Option<Gd<TlsOptions>>,

    server: Server,
    /// Godot's custom performance monitors of this server (from the first listen()).
    monitors: Option<Monitors>,
    /// New TLS parts that did not fit together yet (e.g. a new key before its
    /// certificate); tried again at the next poll(), which reports what is still wrong.
    tls_pending: bool,
    peers: IdMap<Gd<WebSocketServerPeer>>,
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

    /// Emitted when a client sent a close frame. Keep polling until [signal client_disconnected].
    #[signal]
    fn client_close_request(id: i64, code: i64, reason: GString);

    /// Emitted for each upgrade request when [member approve_upgrades] is on: answer it with
    /// [method accept_upgrade] or [method refuse_upgrade]. [param id] is the peer id the
    /// client gets if accepted. [param request] has `path` (without the query), `query` (a
    /// Dictionary of the decoded query parameters), `headers` (names in lower case),
    /// `address` and `port` (the client's, as [member trusted_proxies] or [member proxy_protocol]
    /// resolve them), `protocols` (the subprotocols offered) and
    /// `protocol` (the one Godot's rule selected).
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

    /// Starts listening on [param port] (0 picks a free port: see [method get_local_port]).
    /// [param protocols] are the subprotocols you speak; with [param gd_mp_api] the server is a
    /// Godot 4 high-level multiplayer peer. Returns `ERR_ALREADY_IN_USE` when
    /// already listening, `ERR_CANT_CREATE` when the port cannot be bound,
    /// `ERR_INVALID_PARAMETER` for a bad [member bind_ip], port or TLS setup.
    #[func]
    fn listen(
        &mut self,
        port: i64,
        #[opt(default = &PackedStringArray::new())] protocols: PackedStringArray,
        #[opt(default = false)] gd_mp_api: bool,
    ) -> GdError {
        match self.try_listen(port, &protocols, gd_mp_api) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.listen", &e),
        }
    }

    /// Stops the server. Without [param grace_period] (Godot 3's `stop()`): the port is
    /// free again at once and every client is closed with code 1001 (messages already
    /// queued are sent first); no signals follow for them.
    ///
    /// With a [param grace_period] in seconds, for deploys and rolling restarts: new
    /// clients are refused at once (HTTP 503) while the connected ones keep being served as
    /// usual for the grace period; then each is closed with 1001 after its queued messages,
    /// its [signal client_disconnected] follows, and finally [signal drained]. Keep polling
    /// until then.
    #[func]
    fn stop(&mut self, #[opt(default = 0.0)] grace_period: f64) {
        if grace_period != 0.0 && self.server.is_listening() {
            let result = errors::seconds(grace_period, "grace_period")
                .and_then(|grace| self.server.stop_gracefully(grace));
            if let Err(e) = result {
                errors::report("WebSocketServer.stop", &e);
            }
            return;
        }
        self.server.stop();
        self.peers.clear();
        self.upgrade_data.clear();
    }

    /// Whether a `stop(grace_period)` is under way (see [method stop]).
    #[func]
    fn is_draining(&self) -> bool {
        self.server.is_draining()
    }

    /// Accepts the upgrade request [param id] (see [member approve_upgrades]); the client gets
    /// its answer at once, without waiting for [method MultiplayerPeer.poll]. [param data] is
    /// kept for the peer, [method WebSocketServerPeer.get_upgrade_data] returns it (pass
    /// `null` for nothing). [param protocol] "" keeps the subprotocol selected by Godot's
    /// rule; another one must be one the client offered. [param headers] are added to the
    /// response, one `"Name: value"` string each, as [method HTTPRequest.request] takes them, e.g.
    /// `["Set-Cookie: session=abc"]`.
    /// Returns `ERR_DOES_NOT_EXIST` for an id that waits for no decision (timed out, left,
    /// or wrong), `ERR_ALREADY_IN_USE` for a second decision, `ERR_INVALID_PARAMETER` for a
    /// protocol or header that cannot be used.
    #[func]
    fn accept_upgrade(
        &mut self,
        id: i64,
        data: Variant,
        #[opt(default = "")] protocol: GString,
        #[opt(default = &PackedStringArray::new())] headers: PackedStringArray,
    ) -> GdError {
        let id = errors::peer_id(id);
        let mut lines = Vec::with_capacity(headers.len());
        for line in headers.as_slice() {
            let line = line.to_string();
            match line.split_once(':') {
                Some((name, value)) => {
                    lines.push((name.trim().to_string(), value.trim().to_string()))
                }
                None => {
                    godot_error!(
                        "WebSocketServer.accept_upgrade: header \"{line}\" is not \"Name: value\""
                    );
                    return GdError::ERR_INVALID_PARAMETER;
                }
            }
        }
        let headers = lines;
        match self
            .server
            .accept_upgrade(id, &protocol.to_string(), headers)
        {
            Ok(()) => {
                if !data.is_nil() {
                    self.upgrade_data.insert(id, data);
                }
                GdError::OK
            }
            Err(e) => errors::report("WebSocketServer.accept_upgrade", &e),
        }
    }

    /// Refuses the upgrade request [param id] with an HTTP [param status] (400-599: 401
    /// unauthorized, 403 forbidden, 429 too many requests, 503 unavailable ...) and a short
    /// [param body] (at most 4096 bytes). The client never becomes a peer. Errors as
    /// [method accept_upgrade].
    #[func]
    fn refuse_upgrade(
        &mut self,
        id: i64,
        #[opt(default = 403)] status: i64,
        #[opt(default = "")] body: GString,
    ) -> GdError {
        match self
            .server
            .refuse_upgrade(errors::peer_id(id), status, &body.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.refuse_upgrade", &e),
        }
    }

    /// See [member approve_upgrades].
    #[func]
    fn is_approving_upgrades(&self) -> bool {
        self.server.approve_upgrades()
    }

    /// See [member approve_upgrades].
    #[func]
    fn set_approve_upgrades(&mut self, on: bool) {
        self.server.set_approve_upgrades(on);
    }

    /// See [member allowed_origins].
    #[func]
    fn get_allowed_origins(&self) -> PackedStringArray {
        self.allowed_origins.clone()
    }

    /// See [member allowed_origins]. An entry that is not an origin is an error and leaves
    /// the list unchanged.
    #[func]
    fn set_allowed_origins(&mut self, origins: PackedStringArray) {
        let list: Vec<String> = origins.as_slice().iter().map(|o| o.to_string()).collect();
        match self.server.set_allowed_origins(&list) {
            Ok(()) => self.allowed_origins = origins,
            Err(e) => {
                errors::report("WebSocketServer.allowed_origins (unchanged)", &e);
            }
        }
    }

    /// See [member trusted_proxies].
    #[func]
    fn get_trusted_proxies(&self) -> PackedStringArray {
        self.trusted_proxies.clone()
    }

    /// See [member trusted_proxies]. An entry that is not an address or range is an error
    /// and leaves the list unchanged.
    #[func]
    fn set_trusted_proxies(&mut self, proxies: PackedStringArray) {
        let list: Vec<String> = proxies.as_slice().iter().map(|p| p.to_string()).collect();
        match self.server.set_trusted_proxies(&list) {
            Ok(()) => self.trusted_proxies = proxies,
            Err(e) => {
                errors::report("WebSocketServer.trusted_proxies (unchanged)", &e);
            }
        }
    }

    /// See [member proxy_protocol].
    #[func]
    fn is_proxy_protocol_enabled(&self) -> bool {
        self.server.proxy_protocol()
    }

    /// See [member proxy_protocol].
    #[func]
    fn set_proxy_protocol(&mut self, on: bool) {
        self.server.set_proxy_protocol(on);
    }

    /// Sends [param message] to every connected client except [param exclude_ids]: text
    /// ([param write_mode] `WebSocketServerPeer.WRITE_MODE_TEXT`) or binary (the default,
    /// as Godot 3's write mode). The message is copied once and shared; the work per client
    /// happens on the network threads, so the call costs the same for 10 clients or 10,000,
    /// and each client gets it in order with its other messages. A client whose outbound
    /// buffer cannot take it is reported by [signal broadcast_missed]; everyone else gets it.
    /// Returns `ERR_UNCONFIGURED` when not listening, `ERR_INVALID_PARAMETER` for text that
    /// is not UTF-8 or a message larger than the outbound buffer.
    ///
    /// ```gdscript
    /// # 20 times a second, the world state to everyone:
    /// server.broadcast(var_to_bytes(world_state))
    /// ```
    #[func]
    fn broadcast(
        &mut self,
        message: PackedByteArray,
        #[opt(default = 1)] write_mode: i64,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = write_mode == WebSocketServerPeer::WRITE_MODE_TEXT;
        match self
            .server
            .broadcast(message.as_slice(), text, exclude_ids.as_slice())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.broadcast", &e),
        }
    }

    /// [method broadcast] of a text message.
    #[func]
    fn broadcast_text(
        &mut self,
        message: GString,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = message.to_string();
        match self
            .server
            .broadcast(text.as_bytes(), true, exclude_ids.as_slice())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.broadcast_text", &e),
        }
    }

    /// Puts a connected client in a group (a room, a team, a lobby: created on first use).
    /// A client leaves its groups when it disconnects. Returns `ERR_DOES_NOT_EXIST` for an
    /// unknown id.
    ///
    /// ```gdscript
    /// func _on_client_connected(id, _protocol):
    ///     server.add_peer_to_group(id, "lobby")
    ///     server.send_text_to_group("lobby", "%d joined" % id, [id])
    /// ```
    #[func]
    fn add_peer_to_group(&mut self, id: i64, group: GString) -> GdError {
        match self
            .server
            .add_peer_to_group(errors::peer_id(id), &group.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.add_peer_to_group", &e),
        }
    }

    /// Takes a client out of a group. `ERR_INVALID_PARAMETER` when it was not in it.
    #[func]
    fn remove_peer_from_group(&mut self, id: i64, group: GString) -> GdError {
        match self
            .server
            .remove_peer_from_group(errors::peer_id(id), &group.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.remove_peer_from_group", &e),
        }
    }

    /// The groups a client is in, sorted.
    #[func]
    fn get_peer_groups(&self, id: i64) -> PackedStringArray {
        self.server
            .peer_groups(errors::peer_id(id))
            .iter()
            .map(GString::from)
            .collect()
    }

    /// The clients of this server in a group, sorted.
    #[func]
    fn get_group_peers(&self, group: GString) -> PackedInt32Array {
        self.server
            .group_peers(&group.to_string())
            .into_iter()
            .collect()
    }

    /// As [method broadcast], to the members of [param group] only.
    #[func]
    fn send_to_group(
        &mut self,
        group: GString,
        message: PackedByteArray,
        #[opt(default = 1)] write_mode: i64,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = write_mode == WebSocketServerPeer::WRITE_MODE_TEXT;
        match self.server.send_to_group(
            &group.to_string(),
            message.as_slice(),
            text,
            exclude_ids.as_slice(),
        ) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.send_to_group", &e),
        }
    }

    /// [method send_to_group] of a text message.
    #[func]
    fn send_text_to_group(
        &mut self,
        group: GString,
        message: GString,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = message.to_string();
        match self.server.send_to_group(
            &group.to_string(),
            text.as_bytes(),
            true,
            exclude_ids.as_slice(),
        ) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.send_text_to_group", &e),
        }
    }

    /// See [member redis_url].
    #[func]
    fn get_redis_url(&self) -> GString {
        self.redis_url.clone()
    }

    /// See [member redis_url].
    #[func]
    fn set_redis_url(&mut self, url: GString) {
        match self.server.set_redis_url(&url.to_string()) {
            Ok(()) => self.redis_url = url,
            Err(e) => {
                errors::report("WebSocketServer.redis_url (unchanged)", &e);
            }
        }
    }

    /// See [member redis_channel_prefix].
    #[func]
    fn get_redis_channel_prefix(&self) -> GString {
        GString::from(self.server.redis_channel_prefix())
    }

    /// See [member redis_channel_prefix].
    #[func]
    fn set_redis_channel_prefix(&mut self, prefix: GString) {
        if let Err(e) = self.server.set_redis_channel_prefix(&prefix.to_string()) {
            errors::report("WebSocketServer.redis_channel_prefix (unchanged)", &e);
        }
    }

    /// See [member unreliable_drop_threshold].
    #[func]
    fn get_unreliable_drop_threshold(&self) -> i64 {
        self.server.unreliable_drop_threshold() as i64
    }

    /// See [member unreliable_drop_threshold].
    #[func]
    fn set_unreliable_drop_threshold(&mut self, bytes: i64) {
        if let Some(bytes) = errors::count(bytes, "WebSocketServer.unreliable_drop_threshold") {
            self.server.set_unreliable_drop_threshold(bytes);
        }
    }

    /// See [member metrics_path].
    #[func]
    fn get_metrics_path(&self) -> GString {
        GString::from(&self.server.metrics_path())
    }

    /// See [member metrics_path].
    #[func]
    fn set_metrics_path(&mut self, path: GString) {
        if let Err(e) = self.server.set_metrics_path(&path.to_string()) {
            errors::report("WebSocketServer.metrics_path (unchanged)", &e);
        }
    }

    /// The server's statistics since this object was made: `peers` and `handshakes` (now),
    /// `accepted` (connections that became peers), `refused` (a Dictionary by reason:
    /// `subprotocol`, `limit`, `per_ip_limit`, `origin`, `decision`, `handshake_timeout`,
    /// `bad_request`, `refusing`), `messages_in`, `bytes_in`, `messages_out`, `bytes_out`
    /// (message payloads), `dropped_packets` (unreliable packets dropped for congested
    /// peers), `poll_usec` and `poll_usec_average` (the time [method MultiplayerPeer.poll]
    /// took, signals included, in microseconds).
    #[func]
    fn get_stats(&self) -> VarDictionary {
        let stats = self.server.stats();
        let mut refused = VarDictionary::new();
        for reason in Refused::ALL {
            refused.set(reason.name(), stats.refused_for(reason) as i64);
        }
        let mut dict = VarDictionary::new();
        dict.set("peers", stats.peers as i64);
        dict.set("handshakes", stats.handshakes as i64);
        dict.set("accepted", stats.accepted as i64);
        dict.set("refused", &refused);
        dict.set("messages_in", stats.messages_in as i64);
        dict.set("bytes_in", stats.bytes_in as i64);
        dict.set("messages_out", stats.messages_out as i64);
        dict.set("bytes_out", stats.bytes_out as i64);
        dict.set("dropped_packets", stats.dropped as i64);
        dict.set("poll_usec", stats.poll_last_ns as f64 / 1000.0);
        dict.set("poll_usec_average", stats.poll_average_ns as f64 / 1000.0);
        dict
    }

    /// The prefix of this server's custom performance monitors (registered at the first
    /// [method listen]; "" before): `websocket_server`, or `websocket_server_2` ... when
    /// several servers run in one process. The monitors are `<prefix>/peers`,
    /// `/handshakes`, `/bytes_in_per_second`, `/bytes_out_per_second`,
    /// `/messages_in_per_second`, `/messages_out_per_second` and `/poll_usec`; the editor's
    /// debugger graphs them (Monitors tab) and [method Performance.get_custom_monitor] reads
    /// them. They are removed when the server is freed.
    #[func]
    fn get_monitor_prefix(&self) -> GString {
        self.monitors
            .as_ref()
            .map(|m| GString::from(m.prefix()))
            .unwrap_or_default()
    }

    /// See [member health_check_path].
    #[func]
    fn get_health_check_path(&self) -> GString {
        GString::from(&self.server.health_check_path())
    }

    /// See [member health_check_path].
    #[func]
    fn set_health_check_path(&mut self, path: GString) {
        if let Err(e) = self.server.set_health_check_path(&path.to_string()) {
            errors::report("WebSocketServer.health_check_path (unchanged)", &e);
        }
    }

    /// See [member max_messages_per_second].
    #[func]
    fn get_max_messages_per_second(&self) -> i64 {
        self.server.rate_limits().0 as i64
    }

    /// See [member max_messages_per_second].
    #[func]
    fn set_max_messages_per_second(&mut self, max: i64) {
        if let Some(max) = errors::count(max, "WebSocketServer.max_messages_per_second") {
            let (_, bytes) = self.server.rate_limits();
            self.server.set_rate_limits(max as u64, bytes);
        }
    }

    /// See [member max_bytes_per_second].
    #[func]
    fn get_max_bytes_per_second(&self) -> i64 {
        self.server.rate_limits().1 as i64
    }

    /// See [member max_bytes_per_second].
    #[func]
    fn set_max_bytes_per_second(&mut self, max: i64) {
        if let Some(max) = errors::count(max, "WebSocketServer.max_bytes_per_second") {
            let (messages, _) = self.server.rate_limits();
            self.server.set_rate_limits(messages, max as u64);
        }
    }

    /// Whether the server is listening.
    #[func]
    fn is_listening(&self) -> bool {
        self.server.is_listening()
    }

    /// The port the server listens on (useful after `listen(0)`); 0 when stopped.
    #[func]
    fn get_local_port(&self) -> i64 {
        i64::from(self.server.local_port())
    }

    /// Whether a client with this id is connected.
    #[func]
    fn has_peer(&self, id: i64) -> bool {
        self.server.has_peer(errors::peer_id(id))
    }

    /// The ids of every connected client (not in Godot 3).
    #[func]
    fn get_peer_ids(&self) -> PackedInt32Array {
        self.server.peer_ids().collect()
    }

    /// The [WebSocketServerPeer] of a connected client, or `null`. The same
    /// object is returned for the same id while it is connected, and during [signal client_disconnected].
    #[func]
    fn get_peer(&self, id: i64) -> Option<Gd<WebSocketServerPeer>> {
        let peer = self.peers.get(&errors::peer_id(id)).cloned();
        if peer.is_none() {
            godot_error!(
                "WebSocketServer.get_peer: no client with id {id} is connected; check has_peer(id) first"
            );
        }
        peer
    }

    /// The IP address of a connected client ("" for an unknown id).
    #[func]
    fn get_peer_address(&self, id: i64) -> GString {
        match self.server.peer(errors::peer_id(id)) {
            Some(p) => GString::from(&p.remote_ip()),
            None => {
                godot_error!(
                    "WebSocketServer.get_peer_address: no client with id {id} is connected"
                );
                GString::new()
            }
        }
    }

    /// The TCP port of a connected client (0 for an unknown id).
    #[func]
    fn get_peer_port(&self, id: i64) -> i64 {
        match self.server.peer(errors::peer_id(id)) {
            Some(p) => i64::from(p.remote_addr().port()),
            None => {
                godot_error!("WebSocketServer.get_peer_port: no client with id {id} is connected");
                0
            }
        }
    }

    /// Closes a client's connection with a close handshake ([param code] 1000 normal,
    /// 3000-4999 your own; [param reason] at most 123 bytes). [signal client_disconnected] follows.
    #[func(rename = disconnect_peer)]
    fn disconnect_client(
        &mut self,
        id: i64,
        #[opt(default = 1000)] code: i64,
        #[opt(default = "")] reason: GString,
    ) {
        let result = errors::close_code(code).and_then(|code| {
            self.server
                .disconnect_peer(errors::peer_id(id), code, &reason.to_string())
        });
        if let Err(e) = result {
            errors::report("WebSocketServer.disconnect_peer", &e);
        }
    }

    /// Per-client buffer limits, as Godot 3: sizes in KiB, counts in packets, every value
    /// rounded up to a power of two. Defaults 64 KiB and 1024 packets each way. The inbound
    /// size is also the largest message accepted (larger ones close with 1009); the outbound
    /// size the largest that can be sent. Only before [method listen] (`FAILED` otherwise).
    #[func]
    fn set_buffers(
        &mut self,
        input_buffer_size_kb: i64,
        input_max_packets: i64,
        output_buffer_size_kb: i64,
        output_max_packets: i64,
    ) -> GdError {
        let result = Buffers::from_godot(
            input_buffer_size_kb,
            input_max_packets,
            output_buffer_size_kb,
            output_max_packets,
        )
        .and_then(|b| self.server.set_buffers(b));
        match result {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.set_buffers", &e),
        }
    }

    /// Sets how many background threads do the network work of every server in this
    /// process (0: the default, one less than the number of cores, at least 1 and at most 4,
    /// so that the game's main thread keeps a core). Takes effect when the first
    /// server starts listening; the environment variable
    /// `GODOT_WEBSOCKET_SERVER_THREADS` does the same without code.
    #[func]
    fn set_worker_threads(count: i64) {
        if !(0..=256).contains(&count) {
            godot_error!(
                "WebSocketServer.set_worker_threads: {count} is out of range; use 0 (default) to 256"
            );
            return;
        }
        if crate::core::runtime::is_running() {
            godot_warn!(
                "WebSocketServer.set_worker_threads: the network threads are already running; the new count applies after a restart of the game"
            );
        }
        crate::core::runtime::set_worker_threads(count as usize);
    }

    /// The number of network threads a new runtime gets (see [method set_worker_threads]).
    #[func]
    fn get_worker_threads() -> i64 {
        crate::core::runtime::worker_threads() as i64
    }

    /// See [member heartbeat_interval].
    #[func]
    fn get_heartbeat_interval(&self) -> f64 {
        self.server.heartbeat_interval().as_secs_f64()
    }

    /// See [member heartbeat_interval].
    #[func]
    fn set_heartbeat_interval(&mut self, seconds: f64) {
        if seconds == 0.0 {
            self.server
                .set_heartbeat_interval(std::time::Duration::ZERO);
            return;
        }
        match errors::seconds(seconds, "heartbeat_interval") {
            Ok(d) => self.server.set_heartbeat_interval(d),
            Err(e) => {
                errors::report("WebSocketServer.heartbeat_interval (0 turns it off)", &e);
            }
        }
    }

    /// See [member max_connections].
    #[func]
    fn get_max_connections(&self) -> i64 {
        self.server.max_connections() as i64
    }

    /// See [member max_connections].
    #[func]
    fn set_max_connections(&mut self, max: i64) {
        if let Some(max) = errors::count(max, "WebSocketServer.max_connections") {
            self.server.set_max_connections(max);
        }
    }

    /// See [member max_connections_per_ip].
    #[func]
    fn get_max_connections_per_ip(&self) -> i64 {
        self.server.max_connections_per_ip() as i64
    }

    /// See [member max_connections_per_ip].
    #[func]
    fn set_max_connections_per_ip(&mut self, max: i64) {
        if let Some(max) = errors::count(max, "WebSocketServer.max_connections_per_ip") {
            self.server.set_max_connections_per_ip(max);
        }
    }

    /// The private key for wss:// (see the property).
    #[func]
    fn get_private_key(&self) -> Option<Gd<CryptoKey>> {
        self.private_key.clone()
    }

    /// Sets the private key; while listening, new connections use it once it fits the certificate.
    #[func]
    fn set_private_key(&mut self, key: Option<Gd<CryptoKey>>) {
        self.private_key = key;
        self.renew_tls();
    }

    /// The certificate for wss:// (see the property).
    #[func]
    fn get_ssl_certificate(&self) -> Option<Gd<X509Certificate>> {
        self.ssl_certificate.clone()
    }

    /// Sets the certificate; while listening, new connections use it once it fits the key.
    #[func]
    fn set_ssl_certificate(&mut self, certificate: Option<Gd<X509Certificate>>) {
        self.ssl_certificate = certificate;
        self.renew_tls();
    }

    /// The extra chain certificates (see the property).
    #[func]
    fn get_ca_chain(&self) -> Option<Gd<X509Certificate>> {
        self.ca_chain.clone()
    }

    /// Sets the extra chain certificates sent after the certificate.
    #[func]
    fn set_ca_chain(&mut self, chain: Option<Gd<X509Certificate>>) {
        self.ca_chain = chain;
        self.renew_tls();
    }

    /// The TLSOptions used for wss:// (see the property).
    #[func]
    fn get_tls_options(&self) -> Option<Gd<TlsOptions>> {
        self.tls_options.clone()
    }

    /// Sets a TLSOptions made with TLSOptions.server(key, certificate).
    #[func]
    fn set_tls_options(&mut self, options: Option<Gd<TlsOptions>>) {
        self.tls_options = options;
        self.renew_tls();
    }
}

impl WebSocketServer {
    fn tls_parts(&self) -> TlsParts {
        TlsParts {
            private_key: self.private_key.clone(),
            ssl_certificate: self.ssl_certificate.clone(),
            ca_chain: self.ca_chain.clone(),
            tls_options: self.tls_options.clone(),
        }
    }

    fn try_listen(
        &mut self,
        port: i64,
        protocols: &PackedStringArray,
        gd_mp_api: bool,
    ) -> Result<(), crate::core::Error> {
        if self.server.is_listening() {
            return Err(crate::core::Error::AlreadyListening);
        }
        let port = errors::port(port)?;
        let timeout = errors::seconds(self.handshake_timeout, "handshake_timeout")?;
        let tls = self.tls_parts().config()?;
        self.server.set_bind_ip(&self.bind_ip.to_string());
        self.server.set_handshake_timeout(timeout);
        self.server.set_tls(tls);
        let protocols: Vec<String> = protocols.as_slice().iter().map(|p| p.to_string()).collect();
        self.server.listen(port, &protocols, gd_mp_api)?;
        if self.monitors.is_none() {
            self.monitors = Some(Monitors::register(self.server.stats_source()));
        }
        Ok(())
    }

    /// While listening, a new key and certificate apply to new connections at once.
    /// Parts that do not fit together yet are tried again at the next poll().
    fn renew_tls(&mut self) {
        if !self.server.is_listening() {
            return;
        }
        match self.tls_parts().config() {
            Ok(tls) => {
                self.server.set_tls(tls);
                self.tls_pending = false;
            }
            Err(_) => self.tls_pending = true,
        }
    }

    /// Called by poll(): applies pending TLS parts or says why they cannot be used.
    fn finish_tls_renewal(&mut self) {
        if !self.tls_pending {
            return;
        }
        self.tls_pending = false;
        match self.tls_parts().config() {
            Ok(tls) => self.server.set_tls(tls),
            Err(e) => {
                errors::report(
                    "WebSocketServer: the new TLS settings are not used (the previous ones stay)",
                    &e,
                );
            }
        }
    }

    /// Takes the core's events and emits their signals.
    fn poll_events(&mut self) {
        self.finish_tls_renewal();
        let mut unpublished: HashMap<String, i64> = HashMap::new();
        let mut events = std::mem::take(&mut self.events);
        self.server.poll(&mut events);
        let multiplayer = self.server.is_multiplayer();
        for event in events.drain(..) {
            if matches!(event, Event::Drained) {
                self.peers.clear();
                self.upgrade_data.clear();
                self.signals().drained().emit();
                break;
            }
            // A signal handler may have stopped the server: nothing more to report.
            if !self.server.is_listening() {
                break;
            }
            match event {
                Event::Connected { id, protocol } => {
                    if let Some(peer) = self.server.peer(id) {
                        let data = self.upgrade_data.remove(&id).unwrap_or_default();
                        self.peers
                            .insert(id, WebSocketServerPeer::wrap(peer.clone(), data));
                    }
                    self.signals()
                        .client_connected()
                        .emit(i64::from(id), &GString::from(&protocol));
                    self.signals().peer_connected().emit(i64::from(id));
                }
                Event::Message { id } => {
                    // A handler that read this client's later messages already (a loop
                    // over get_available_packet_count()) has nothing left to be told.
                    let unread = self
                        .server
                        .peer(id)
                        .is_some_and(|p| p.available_packets() > 0);
                    if !multiplayer && unread {
                        let name = self.data_received_name.clone();
                        self.base_mut()
                            .emit_signal(&name, &[i64::from(id).to_variant()]);
                    }
                }
                Event::CloseRequested { id, code, reason } => {
                    self.signals().client_close_request().emit(
                        i64::from(id),
                        i64::from(code),
                        &GString::from(&reason),
                    );
                }
                Event::Disconnected { id, was_clean } => {
                    self.signals()
                        .client_disconnected()
                        .emit(i64::from(id), was_clean);
                    self.signals().peer_disconnected().emit(i64::from(id));
                    self.peers.remove(&id);
                }
                Event::UpgradeRequested(request) => {
                    let dict = request::request_dict(&request);
                    self.signals()
                        .upgrade_requested()
                        .emit(i64::from(request.id), &dict);
                }
                Event::UpgradeEnded { id } => {
                    self.upgrade_data.remove(&id);
                }
                Event::Drained => {}
                Event::Redis(RedisEvent::Connected) => {
                    self.signals().redis_connected().emit();
                }
                Event::Redis(RedisEvent::Error(message)) => {
                    godot_error!("WebSocketServer (redis_url): {message}");
                    self.signals().redis_error().emit(&GString::from(&message));
                }
                Event::Redis(RedisEvent::Unpublished(group)) => {
                    *unpublished.entry(group.unwrap_or_default()).or_insert(0) += 1;
                }
                Event::BroadcastMissed(missed) => {
                    let ids: PackedInt32Array = missed.peers.iter().copied().collect();
                    let group = GString::from(missed.group.as_deref().unwrap_or_default());
                    self.signals().broadcast_missed().emit(&ids, &group);
                }
            }
        }
        self.events = events;
        for (group, count) in unpublished {
            self.signals()
                .redis_unpublished()
                .emit(&GString::from(&group), count);
        }
    }

    fn not_multiplayer(&self, method: &str) -> GdError {
        godot_error!(
            "WebSocketServer.{method}: the server was not started with listen(port, protocols, true); use get_peer(id).{method}() for single clients"
        );
        GdError::ERR_UNCONFIGURED
    }
}

#[godot_api]
impl IMultiplayerPeerExtension for WebSocketServer {
    /// Emits the signals for everything that happened since the last call. Call it every frame.
    fn poll(&mut self) {
        let started = std::time::Instant::now();
        self.poll_events();
        self.server.record_poll_time(started.elapsed());
    }

    fn close(&mut self) {
        self.stop(0.0);
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        match self.server.peer(peer) {
            Some(p) if force => p.abort(),
            Some(p) => {
                let _ = p.close(1000, "");
            }
            None => godot_error!(
                "WebSocketServer.disconnect_peer: no client with id {peer} is connected"
            ),
        }
    }

    fn get_available_packet_count(&self) -> i32 {
        self.server.mp_available_packets().min(i32::MAX as usize) as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        self.server.buffers().out_bytes.min(i32::MAX as usize) as i32
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> GdError {
        if !self.server.is_multiplayer() {
            return self.not_multiplayer("get_packet");
        }
        let Some(packet) = self.server.mp_get_packet() else {
            return GdError::ERR_UNAVAILABLE;
        };
        self.last_packet = packet.data;
        // SAFETY: the engine's out-pointers of this call; the packet stays alive in
        // `self.last_packet` until the next call.
        unsafe { raw_packet::hand_out(&self.last_packet, r_buffer, r_buffer_size) };
        GdError::OK
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> GdError {
        if !self.server.is_multiplayer() {
            return self.not_multiplayer("put_packet");
        }
        // SAFETY: the engine's buffer of this call; mp_put_packet copies it before
        // returning.
        let data = unsafe { raw_packet::taken_in(p_buffer, p_buffer_size) };
        match self.server.mp_put_packet(
            self.target_peer,
            data,
            self.transfer_mode != TransferMode::RELIABLE,
        ) {
            Ok(()) => GdError::OK,
            Err((id, e)) => {
                errors::report_send(&format!("WebSocketServer.put_packet to peer {id}"), &e)
            }
        }
    }

    fn get_packet_channel(&self) -> i32 {
        0
    }

    fn get_packet_mode(&self) -> TransferMode {
        TransferMode::RELIABLE
    }

    fn set_transfer_channel(&mut self, p_channel: i32) {
        self.transfer_channel = p_channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, p_mode: TransferMode) {
        self.transfer_mode = p_mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, p_peer: i32) {
        self.target_peer = p_peer;
    }

    fn get_packet_peer(&self) -> i32 {
        // As Godot's own peer: 1 when no packet is waiting.
        self.server
            .mp_next_packet_peer()
            .unwrap_or(multiplayer::SERVER_ID)
    }

    fn is_server(&self) -> bool {
        true
    }

    fn get_unique_id(&self) -> i32 {
        multiplayer::SERVER_ID
    }

    fn set_refuse_new_connections(&mut self, p_enable: bool) {
        self.server.set_refuse_new_connections(p_enable);
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.server.is_refusing_new_connections()
    }

    fn is_server_relay_supported(&self) -> bool {
        true
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        if self.server.is_listening() {
            ConnectionStatus::CONNECTED
        } else {
            ConnectionStatus::DISCONNECTED
        }
    }
}
