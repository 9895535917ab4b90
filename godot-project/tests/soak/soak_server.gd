extends SceneTree
## The server of the churn soak (tools/soak.sh): two WebSocketServer objects on our class,
## one plain and one wss, with a 5 s heartbeat, echoing every message to its sender. Every
## second it prints one line "STATS {json}" with both servers' statistics added up, for
## the soak to compare with what its clients counted.
##   godot --headless --path godot-project --script res://tests/soak/soak_server.gd -- \
##       --port=9300 --tls-port=9301 --tls-key=KEY.pem --tls-cert=CERT.pem

var servers: Array[WebSocketServer] = []
var next_report := 0


func _initialize() -> void:
	var args := {}
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		args[kv[0]] = kv[1] if kv.size() > 1 else ""
	var plain := WebSocketServer.new()
	var secure := WebSocketServer.new()
	var key := CryptoKey.new()
	var cert := X509Certificate.new()
	if key.load(args.get("tls-key", "")) != OK or cert.load(args.get("tls-cert", "")) != OK:
		printerr("soak server: --tls-key and --tls-cert must name PEM files")
		quit(1)
		return
	secure.private_key = key
	secure.ssl_certificate = cert
	for s in [plain, secure]:
		s.bind_ip = "127.0.0.1"
		s.heartbeat_interval = 5.0
		s.data_received.connect(_echo.bind(s))
		servers.append(s)
	if plain.listen(int(args.get("port", "0"))) != OK or secure.listen(int(args.get("tls-port", "0"))) != OK:
		printerr("soak server: cannot listen")
		quit(1)
		return
	print("READY %d %d" % [plain.get_local_port(), secure.get_local_port()])


func _echo(id: int, server: WebSocketServer) -> void:
	var peer := server.get_peer(id)
	# A client cut meanwhile is still readable: what it sent is read, not answered.
	while peer.get_available_packet_count() > 0 and peer.get_ready_state() == WebSocketServerPeer.STATE_OPEN:
		var packet := peer.get_packet()
		var mode := WebSocketServerPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketServerPeer.WRITE_MODE_BINARY
		peer.send(packet, mode)


func _process(_delta: float) -> bool:
	for s in servers:
		s.poll()
	var now := Time.get_ticks_msec()
	if now >= next_report:
		next_report = now + 1000
		var total := {}
		for s in servers:
			var stats: Dictionary = s.get_stats()
			for k in ["peers", "accepted", "messages_in", "messages_out"]:
				total[k] = total.get(k, 0) + int(stats[k])
		print("STATS ", JSON.stringify(total))
	return false
