extends Node
## A room server for deployments behind a proxy (see deploy/ and the book, docs/src/deploying.md):
## clients connect to ws://HOST/play?room=N and join the group of that room; a text message
## goes to everyone in the room (on every server process sharing the Redis of --redis).
## "/whoami" answers with the address the server sees for you, "/kick" closes your
## connection with 4000 "bye".
##
## godot --headless --path godot-project res://demo/room_server.tscn -- --port=9080
##   [--name=A] [--trusted=127.0.0.1,10.0.0.0/8] [--proxy-protocol] [--health=/healthz]
##   [--tls-key=key.pem --tls-cert=cert.pem] [--stop-file=PATH] [--grace=SECONDS]
##   [--redis=redis://127.0.0.1:6379] [--reconnect=SECONDS]
## With --stop-file the server stops when that file appears (after --grace seconds of
## draining, if given) and the process exits: what a deploy script or orchestrator does.
## It prints one line per event (LISTENING, JOIN, LEAVE, REDIS ...) for scripts and tests.

var server := WebSocketServer.new()
var server_name := "A"
var stop_file := ""
var grace := 0.0


func _ready() -> void:
	var port := 9080
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		var value: String = kv[1] if kv.size() > 1 else ""
		match kv[0]:
			"port": port = int(value)
			"name": server_name = value
			"trusted": server.trusted_proxies = PackedStringArray(value.split(","))
			"proxy-protocol": server.proxy_protocol = true
			"health": server.health_check_path = value
			"tls-key":
				var key := CryptoKey.new()
				key.load(value)
				server.private_key = key
			"tls-cert":
				var cert := X509Certificate.new()
				cert.load(value)
				server.ssl_certificate = cert
			"stop-file": stop_file = value
			"grace": grace = float(value)
			"redis": server.redis_url = value
			"reconnect": server.reconnect_grace_period = float(value)
	server.client_connected.connect(_on_connected)
	server.client_away.connect(func(id): print("AWAY %d %s" % [id, server_name]))
	server.client_back.connect(func(id): print("BACK %d %s %s" % [id, server_name, server.get_peer_groups(id)]))
	server.client_disconnected.connect(_on_disconnected)
	server.data_received.connect(_on_data)
	server.drained.connect(func(): get_tree().quit())
	server.redis_connected.connect(func(): print("REDIS CONNECTED %s" % server_name))
	server.redis_error.connect(func(message): print("REDIS ERROR %s %s" % [server_name, message]))
	server.redis_unpublished.connect(func(group, count): print("REDIS UNPUBLISHED %s %s %d" % [server_name, group, count]))
	var err := server.listen(port)
	if err != OK:
		printerr("room server %s: cannot listen on %d (error %d)" % [server_name, port, err])
		get_tree().quit(1)
		return
	print("LISTENING %s %d" % [server_name, server.get_local_port()])


func _process(_delta: float) -> void:
	server.poll()
	if not stop_file.is_empty() and FileAccess.file_exists(stop_file) and not server.is_draining():
		print("STOPPING %s" % server_name)
		if grace > 0.0:
			server.stop(grace)  # drained quits
		else:
			server.stop()
			get_tree().quit()


func _on_connected(id: int, _protocol: String) -> void:
	var peer := server.get_peer(id)
	var query := peer.get_request_path().get_slice("?", 1)
	var room := "lobby"
	for pair in query.split("&", false):
		if pair.begins_with("room="):
			room = pair.trim_prefix("room=")
	server.add_peer_to_group(id, room)
	print("JOIN %d %s %s %d" % [id, room, server.get_peer_address(id), server.get_peer_port(id)])
	peer.send_text("welcome %s %d" % [server_name, id])


func _on_disconnected(id: int, was_clean: bool) -> void:
	var peer := server.get_peer(id)
	print("LEAVE %d clean=%s code=%d" % [id, was_clean, peer.get_close_code() if peer else -1])


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	var packet := peer.get_packet()
	var text := packet.get_string_from_utf8()
	match text:
		"/whoami":
			peer.send_text("you are %s:%d on %s" % [server.get_peer_address(id), server.get_peer_port(id), server_name])
		"/kick":
			server.disconnect_peer(id, 4000, "bye")
		_:
			var room: String = server.get_peer_groups(id)[0]
			server.send_text_to_group(room, "%s %d: %s" % [room, id, text])
