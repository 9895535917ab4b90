extends SceneTree
## The server of the churn soak (tools/soak.sh): one plain and one wss server, echoing
## every message to its sender, of one of three kinds (--kind):
##   ours      two WebSocketServer objects (this addon), 5 s heartbeat
##   godot_mp  two of Godot's WebSocketMultiplayerPeer.create_server, TLSOptions.server on
##             the second, polled and echoed with get_packet_peer / put_packet
##   tcp       Godot's TCPServer + one WebSocketPeer per client (StreamPeerTLS on the
##             second), all polled in _process, heartbeat_interval 5 s
## Every second it prints one line "STATS {json}" with both servers' peers, accepted
## connections and messages in and out added up, for the soak to compare with what its
## clients counted, and (ours) the bytes held for the peers, received and queued.
##   godot --headless --path godot-project --script res://tests/soak/soak_server.gd -- \
##       --kind=ours --port=9300 --tls-port=9301 --tls-key=KEY.pem --tls-cert=CERT.pem

var kind := "ours"
var next_report := 0
var key := CryptoKey.new()
var cert := X509Certificate.new()
## ours
var servers: Array[WebSocketServer] = []
## godot_mp
var mps: Array[WebSocketMultiplayerPeer] = []
## tcp: the listeners, streams in their TLS handshake, open peers.
var listeners: Array[TCPServer] = []
var tls_handshakes := preload("res://bench/tls_handshakes.gd").new()
var tcp_peers: Array[WebSocketPeer] = []
## Counted here for Godot's kinds (ours has get_stats()).
var counts := {"peers": 0, "accepted": 0, "messages_in": 0, "messages_out": 0}


func _initialize() -> void:
	var args := {}
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		args[kv[0]] = kv[1] if kv.size() > 1 else ""
	kind = args.get("kind", "ours")
	if key.load(args.get("tls-key", "")) != OK or cert.load(args.get("tls-cert", "")) != OK:
		printerr("soak server: --tls-key and --tls-cert must name PEM files")
		quit(1)
		return
	var ports := [int(args.get("port", "0")), int(args.get("tls-port", "0"))]
	var err := OK
	for i in 2:
		var tls := i == 1
		match kind:
			"ours":
				var s := WebSocketServer.new()
				if tls:
					s.private_key = key
					s.ssl_certificate = cert
				s.bind_ip = "127.0.0.1"
				s.heartbeat_interval = 5.0
				s.data_received.connect(_echo.bind(s))
				servers.append(s)
				err = s.listen(ports[i])
			"godot_mp":
				var mp := WebSocketMultiplayerPeer.new()
				err = mp.create_server(ports[i], "127.0.0.1", TLSOptions.server(key, cert) if tls else null)
				mp.peer_connected.connect(_mp_joined)
				mp.peer_disconnected.connect(_mp_left)
				mps.append(mp)
			"tcp":
				var listener := TCPServer.new()
				err = listener.listen(ports[i], "127.0.0.1")
				listeners.append(listener)
		if err != OK:
			printerr("soak server: cannot listen on %d (%s)" % [ports[i], error_string(err)])
			quit(1)
			return
	print("READY %s %d %d" % [kind, ports[0], ports[1]])


func _mp_joined(_id: int) -> void:
	counts.peers += 1
	counts.accepted += 1


func _mp_left(_id: int) -> void:
	counts.peers -= 1


func _echo(id: int, server: WebSocketServer) -> void:
	var peer := server.get_peer(id)
	# A client cut meanwhile is still readable: what it sent is read, not answered.
	while peer.get_available_packet_count() > 0 and peer.get_ready_state() == WebSocketServerPeer.STATE_OPEN:
		var packet := peer.get_packet()
		var mode := WebSocketServerPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketServerPeer.WRITE_MODE_BINARY
		peer.send(packet, mode)


func _process(_delta: float) -> bool:
	match kind:
		"ours":
			for s in servers:
				s.poll()
		"godot_mp":
			for mp in mps:
				mp.poll()
				while mp.get_available_packet_count() > 0:
					var from := mp.get_packet_peer()
					var packet := mp.get_packet()
					counts.messages_in += 1
					mp.set_target_peer(from)
					if mp.put_packet(packet) == OK:
						counts.messages_out += 1
		"tcp":
			_tcp_poll()
	var now := Time.get_ticks_msec()
	if now >= next_report:
		next_report = now + 1000
		var total := counts.duplicate()
		if kind == "ours":
			total = {}
			for s in servers:
				var stats: Dictionary = s.get_stats()
				for k in ["peers", "accepted", "messages_in", "messages_out", "inbound_buffered_bytes", "outbound_buffered_bytes"]:
					total[k] = total.get(k, 0) + int(stats[k])
		print("STATS ", JSON.stringify(total))
	return false


## TCPServer + WebSocketPeer as Godot's chat demo does it, with TLS as Godot's own
## WebSocketMultiplayerPeer polls it.
func _tcp_poll() -> void:
	for i in listeners.size():
		while listeners[i].is_connection_available():
			var stream := listeners[i].take_connection()
			if i == 0:
				_tcp_accept(stream)
				continue
			tls_handshakes.start(stream, TLSOptions.server(key, cert))
	for tls in tls_handshakes.poll():
		_tcp_accept(tls)
	var k := 0
	while k < tcp_peers.size():
		var ws := tcp_peers[k]
		ws.poll()
		while ws.get_available_packet_count() > 0:
			var packet := ws.get_packet()
			counts.messages_in += 1
			var text := ws.was_string_packet()
			if ws.send(packet, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY) == OK:
				counts.messages_out += 1
		var state := ws.get_ready_state()
		if state == WebSocketPeer.STATE_OPEN and not ws.has_meta("open"):
			ws.set_meta("open", true)
			counts.peers += 1
			counts.accepted += 1
		if state == WebSocketPeer.STATE_CLOSED:
			if ws.has_meta("open"):
				counts.peers -= 1
			tcp_peers.remove_at(k)
		else:
			k += 1


func _tcp_accept(stream: StreamPeer) -> void:
	var ws := WebSocketPeer.new()
	ws.heartbeat_interval = 5.0
	ws.accept_stream(stream)
	tcp_peers.append(ws)
