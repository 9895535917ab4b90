extends Node
## A small chat and echo server on WebSocketServer that any WebSocket client can use:
## text messages go to every client as "[id] message", binary messages come back to
## their sender, "/quit" closes your connection, "/who" lists who is here, "/ping" tells
## you your ping. Every 10 seconds the server prints each player's ping.
##
## Run headless: godot --headless --path godot-project -- --port=9080
## Then: websocat ws://127.0.0.1:9080/

var server := WebSocketServer.new()
var ping_report := 0.0


func _ready() -> void:
	var port := 9080
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	server.client_connected.connect(_on_client_connected)
	server.client_disconnected.connect(_on_client_disconnected)
	server.client_close_request.connect(_on_client_close_request)
	server.data_received.connect(_on_data_received)
	server.heartbeat_interval = 2.0  # finds dead connections, and measures each ping
	var err := server.listen(port)
	if err != OK:
		printerr("Chat server: cannot listen on port %d (error %d)" % [port, err])
		get_tree().quit(1)
		return
	print("Chat server listening on ws://127.0.0.1:%d/" % server.get_local_port())


func _process(delta: float) -> void:
	server.poll()
	ping_report += delta
	if ping_report >= 10.0:
		ping_report = 0.0
		for id in server.get_peer_ids():
			print("[%d] ping %.1f ms" % [id, server.get_peer(id).get_smoothed_round_trip_time()])


func _on_client_connected(id: int, protocol: String) -> void:
	var peer := server.get_peer(id)
	print("[%d] connected from %s:%d (protocol '%s', path %s)" % [
		id, peer.get_connected_host(), peer.get_connected_port(), protocol, peer.get_request_path()])
	_broadcast("* %d joined" % id)


func _on_client_close_request(id: int, code: int, reason: String) -> void:
	print("[%d] asks to close: %d %s" % [id, code, reason])


func _on_client_disconnected(id: int, was_clean_close: bool) -> void:
	print("[%d] disconnected (clean: %s)" % [id, was_clean_close])
	_broadcast("* %d left" % id)


func _on_data_received(id: int) -> void:
	var peer := server.get_peer(id)
	var data := peer.get_packet()
	if not peer.was_string_packet():
		peer.put_packet(data)  # binary: the default write mode
		return
	var text := data.get_string_from_utf8()
	match text.strip_edges():
		"/quit":
			server.disconnect_peer(id, 1000, "bye")
		"/who":
			peer.send_text("here: %s" % str(server.get_peer_ids()))
		"/ping":
			peer.send_text("ping: %.1f ms" % peer.get_smoothed_round_trip_time())
		_:
			_broadcast("[%d] %s" % [id, text])


func _broadcast(text: String) -> void:
	server.broadcast_text(text)
