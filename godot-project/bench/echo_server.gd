extends SceneTree
## One of three echo servers for tools/bench-engine.sh, all in GDScript on the same engine:
##   --kind=ours      WebSocketServer (this addon): data_received -> get_packet -> send
##   --kind=godot_mp  Godot's WebSocketMultiplayerPeer.create_server, polled and echoed with
##                    get_packet_peer / set_target_peer / put_packet
##   --kind=tcp       Godot's TCPServer + one WebSocketPeer per client, all polled in
##                    _process (as Godot's websocket chat demo)
## Every message is echoed to its sender, except control messages (binary, starting with
## "#"): "#reset" restarts the frame statistics, "#stats" answers them as JSON, "#fanout HZ
## SECONDS SIZE" sends SIZE bytes to every client HZ times a second (the first 8 bytes: the
## send time, µs since the Unix epoch) and measures what each send costs the main thread;
## "#fanout HZ SECONDS SIZE json" sends a world state in JSON of about SIZE bytes as text
## instead (the compression line).
##   godot --headless --path godot-project --script res://bench/echo_server.gd -- --kind=ours --port=9100 [--max-fps=60] [--grace=SECONDS] [--tls-key=PEM --tls-cert=PEM] [--compress]

var kind := "ours"
## reconnect_grace_period of ours (--grace=SECONDS; the reconnection line).
var grace := 0.0
## Ours: handshake_timeout when given (--handshake-timeout=SECONDS).
var handshake_timeout := 0.0
## wss (--tls-key=PEM --tls-cert=PEM; the wss line): every kind with Godot's own TLS
## options where it has them (ours: private_key / ssl_certificate).
var tls_key: CryptoKey
var tls_cert: X509Certificate
## TCPServer + WebSocketPeer over TLS: the handshakes under way.
var tls_handshakes := preload("res://bench/tls_handshakes.gd").new()
var ours: WebSocketServer
var mp: WebSocketMultiplayerPeer
var tcp: TCPServer
var tcp_peers: Array[WebSocketPeer] = []
var mp_peers := 0

var frames := 0
var started_usec := 0
var poll_usec := 0
var process_usec := 0
var max_process_usec := 0
var fanout_hz := 0.0
var fanout_until := 0
var fanout_next := 0
var fanout_payload := PackedByteArray()
var fanout_sends := 0
var fanout_usec := 0
var fanout_times: Array[int] = []
## "#fanout ... json": a world state in JSON, changed every send.
var fanout_json := false
var fanout_tick := 0
## compression_enabled of ours (--compress; the compression line).
var compress := false


func _initialize() -> void:
	var port := 9100
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--kind="):
			kind = arg.trim_prefix("--kind=")
		elif arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--tls-key="):
			tls_key = CryptoKey.new()
			tls_key.load(arg.trim_prefix("--tls-key="))
		elif arg.begins_with("--tls-cert="):
			tls_cert = X509Certificate.new()
			tls_cert.load(arg.trim_prefix("--tls-cert="))
		elif arg == "--compress":
			compress = true
		elif arg.begins_with("--grace="):
			grace = float(arg.trim_prefix("--grace="))
		elif arg.begins_with("--handshake-timeout="):
			handshake_timeout = float(arg.trim_prefix("--handshake-timeout="))
		elif arg.begins_with("--max-fps="):
			Engine.max_fps = int(arg.trim_prefix("--max-fps="))
		elif arg.begins_with("--frame-sleep-usec="):
			# Headless, the engine sleeps up to this long between frames (6,900 µs by
			# default: at most 145 frames/s).
			OS.low_processor_usage_mode_sleep_usec = int(arg.trim_prefix("--frame-sleep-usec="))
	var err := OK
	match kind:
		"ours":
			ours = WebSocketServer.new()
			ours.bind_ip = "127.0.0.1"
			ours.set_buffers(1024, 4096, 1024, 4096)
			ours.reconnect_grace_period = grace
			if handshake_timeout > 0.0:
				ours.handshake_timeout = handshake_timeout
			ours.compression_enabled = compress
			if tls_key != null:
				ours.private_key = tls_key
				ours.ssl_certificate = tls_cert
			ours.data_received.connect(_ours_data)
			err = ours.listen(port)
		"godot_mp":
			mp = WebSocketMultiplayerPeer.new()
			mp.inbound_buffer_size = 1 << 20
			mp.outbound_buffer_size = 1 << 20
			mp.max_queued_packets = 4096
			var options: TLSOptions = null if tls_key == null else TLSOptions.server(tls_key, tls_cert)
			err = mp.create_server(port, "127.0.0.1", options)
			mp.peer_connected.connect(func(_id): mp_peers += 1)
			mp.peer_disconnected.connect(func(_id): mp_peers -= 1)
		"tcp":
			tcp = TCPServer.new()
			err = tcp.listen(port, "127.0.0.1")
	if err != OK:
		printerr("bench server %s: cannot listen on %d (%d)" % [kind, port, err])
		quit(1)
		return
	_reset()
	print("READY %s %d" % [kind, port])


func _process(_delta: float) -> bool:
	var t0 := Time.get_ticks_usec()
	match kind:
		"ours":
			ours.poll()
		"godot_mp":
			mp.poll()
		"tcp":
			_tcp_poll()
	var t1 := Time.get_ticks_usec()
	match kind:
		"godot_mp":
			while mp.get_available_packet_count() > 0:
				var from := mp.get_packet_peer()
				var packet := mp.get_packet()
				if _control(packet, from):
					continue
				mp.set_target_peer(from)
				mp.put_packet(packet)
		"tcp":
			for i in tcp_peers.size():
				var peer := tcp_peers[i]
				while peer.get_available_packet_count() > 0:
					var packet := peer.get_packet()
					if not _control(packet, i):
						peer.send(packet)
	_fanout()
	var t2 := Time.get_ticks_usec()
	frames += 1
	poll_usec += t1 - t0
	process_usec += t2 - t0
	max_process_usec = maxi(max_process_usec, t2 - t0)
	return false


func _tcp_poll() -> void:
	while tcp.is_connection_available():
		if tls_key == null:
			_tcp_accept(tcp.take_connection())
			continue
		tls_handshakes.start(tcp.take_connection(), TLSOptions.server(tls_key, tls_cert))
	for tls in tls_handshakes.poll():
		_tcp_accept(tls)
	var i := 0
	while i < tcp_peers.size():
		var ws := tcp_peers[i]
		ws.poll()
		if ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			tcp_peers.remove_at(i)
		else:
			i += 1


func _tcp_accept(stream: StreamPeer) -> void:
	var ws := WebSocketPeer.new()
	ws.inbound_buffer_size = 1 << 20
	ws.outbound_buffer_size = 1 << 20
	ws.max_queued_packets = 4096
	ws.accept_stream(stream)
	tcp_peers.append(ws)


func _ours_data(id: int) -> void:
	var peer := ours.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var packet := peer.get_packet()
		if not _control(packet, id):
			peer.send(packet)


## Handles a control message; false for anything else (to be echoed).
func _control(packet: PackedByteArray, from: int) -> bool:
	if packet.is_empty() or packet[0] != 35:  # "#"
		return false
	var words := packet.get_string_from_utf8().split(" ")
	match words[0]:
		"#reset":
			_reset()
		"#stats":
			var secs := (Time.get_ticks_usec() - started_usec) / 1e6
			var stats := {
				"frames": frames,
				"fps": frames / maxf(secs, 0.001),
				"poll_us": poll_usec / maxf(frames, 1),
				"process_us": process_usec / maxf(frames, 1),
				"max_process_us": max_process_usec,
				"peers": _peer_count(),
				"broadcasts": fanout_sends,
				"broadcast_us": fanout_usec / maxf(fanout_sends, 1),
				"broadcast_us_p50": _median(fanout_times),
			}
			_reply(from, JSON.stringify(stats).to_utf8_buffer())
		"#fanout":
			fanout_hz = float(words[1])
			fanout_until = Time.get_ticks_usec() + int(float(words[2]) * 1e6)
			fanout_payload.resize(int(words[3]))
			fanout_json = words.size() > 4 and words[4] == "json"
			fanout_next = Time.get_ticks_usec()
			fanout_sends = 0
			fanout_usec = 0
			fanout_times.clear()
	return true


func _reply(to: int, data: PackedByteArray) -> void:
	match kind:
		"ours":
			ours.get_peer(to).send(data)
		"godot_mp":
			mp.set_target_peer(to)
			mp.put_packet(data)
		"tcp":
			tcp_peers[to].send(data)


func _fanout() -> void:
	if fanout_hz <= 0.0:
		return
	var now := Time.get_ticks_usec()
	if now >= fanout_until:
		fanout_hz = 0.0
		return
	if now < fanout_next:
		return
	fanout_next += int(1e6 / fanout_hz)
	var text := ""
	var packet := fanout_payload
	if fanout_json:
		text = _world_state(fanout_payload.size())
		packet = text.to_utf8_buffer()
	else:
		fanout_payload.encode_double(0, Time.get_unix_time_from_system() * 1e6)
		packet = fanout_payload
	var t0 := Time.get_ticks_usec()
	match kind:
		"ours" when fanout_json:
			ours.broadcast_text(text)
		"ours":
			ours.broadcast(packet)
		"godot_mp":
			mp.set_target_peer(0)
			mp.put_packet(packet)
		"tcp":
			for ws in tcp_peers:
				ws.send(packet)
	var took := Time.get_ticks_usec() - t0
	fanout_usec += took
	fanout_times.append(took)
	fanout_sends += 1


## A game's world state in JSON, about `size` bytes: every player's id, position, speed
## and health, moving a little every tick.
func _world_state(size: int) -> String:
	fanout_tick += 1
	var players := []
	for i in maxi(size / 96, 1):
		var t := fanout_tick * 0.05 + i
		players.append({"id": 1000 + i, "name": "player%d" % i, "x": snappedf(200 + 150 * sin(t), 0.01),
				"y": snappedf(200 + 150 * cos(t), 0.01), "vx": snappedf(cos(t), 0.01), "hp": 100 - i % 7})
	return JSON.stringify({"tick": fanout_tick, "players": players})


func _median(values: Array[int]) -> float:
	if values.is_empty():
		return -1.0
	var sorted := values.duplicate()
	sorted.sort()
	return float(sorted[sorted.size() / 2])


func _peer_count() -> int:
	match kind:
		"ours":
			return ours.get_peer_ids().size()
		"godot_mp":
			return mp_peers
		_:
			return tcp_peers.size()


func _reset() -> void:
	frames = 0
	poll_usec = 0
	process_usec = 0
	max_process_usec = 0
	started_usec = Time.get_ticks_usec()
