extends SceneTree
## The echo server of tests/it/limits.rs's test of the process's file descriptor limit:
## listens on --port, echoes every packet, prints "READY", "joined ID" and "left ID", and
## "refused N" with the count of connections refused for want of descriptors
## (get_stats()) when asked by a client's text message "stats".
##   ulimit -n 256; godot --headless --path godot-project \
##       --script res://tests/limits/echo_server.gd -- --port=9400

var server := WebSocketServer.new()


func _initialize() -> void:
	var port := 0
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	server.client_connected.connect(func(id: int, _protocol: String) -> void: print("joined ", id))
	server.client_disconnected.connect(func(id: int, _clean: bool) -> void: print("left ", id))
	server.data_received.connect(_on_data)
	var err := server.listen(port)
	if err != OK:
		printerr("listen failed: ", error_string(err))
		quit(1)
		return
	print("READY")


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	var packet := peer.get_packet()
	if peer.was_string_packet() and packet.get_string_from_utf8() == "stats":
		var refused: Dictionary = server.get_stats()["refused"]
		print("refused ", refused["file_descriptors"])
		return
	peer.put_packet(packet)


func _process(_delta: float) -> bool:
	server.poll()
	return false
