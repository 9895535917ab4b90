extends SceneTree
## Copied into a new, empty project next to a copy of addons/websocket_server/ by the
## engine test runner: the addon alone must be enough. Exits 0 when a Godot client
## round-trips one message through a WebSocketServer.


func _initialize() -> void:
	create_timer(30.0).timeout.connect(func(): printerr("FAIL fresh project: timed out"); quit(2))
	_run()


func _run() -> void:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	if server.listen(0) != OK:
		printerr("FAIL fresh project: listen")
		quit(1)
		return
	server.data_received.connect(func(id): server.get_peer(id).put_packet(server.get_peer(id).get_packet()))
	var client := WebSocketPeer.new()
	client.connect_to_url("ws://127.0.0.1:%d/" % server.get_local_port())
	var sent := false
	for i in 600:
		server.poll()
		client.poll()
		if client.get_ready_state() == WebSocketPeer.STATE_OPEN and not sent:
			client.send_text("ping")
			sent = true
		if client.get_available_packet_count() > 0:
			var text := client.get_packet().get_string_from_utf8()
			print("PASS fresh project: got ", text)
			quit(0 if text == "ping" else 1)
			return
		await process_frame
	printerr("FAIL fresh project: no echo")
	quit(1)
