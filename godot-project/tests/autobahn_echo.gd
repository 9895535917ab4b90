extends SceneTree
## An echo server on WebSocketServer for the Autobahn Testsuite (tools/autobahn.sh): every
## message goes back to its sender as it came, text as text and binary as binary, through
## the whole stack (GDScript, the Godot layer, the core), with compression on.
##   godot --headless --path godot-project --script res://tests/autobahn_echo.gd -- --port=9002
##
## Echo with send(packet, write_mode): PacketPeer.put_packet() returns OK without sending
## anything for an empty array (the engine never calls the peer), and decoding text with
## get_string_from_utf8() stops at the first NUL byte.

var server := WebSocketServer.new()


func _initialize() -> void:
	var port := 9002
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	server.bind_ip = "127.0.0.1"
	# Autobahn's largest messages are 16 MiB.
	server.set_buffers(32768, 4096, 32768, 4096)
	# Autobahn offers permessage-deflate in cases 12.* and 13.* only.
	server.compression_enabled = true
	# Headless, the engine sleeps 6.9 ms between frames; the compression cases wait for
	# each echo before the next message (1,000 per case), so a shorter sleep keeps the run
	# within minutes instead of half an hour.
	OS.low_processor_usage_mode_sleep_usec = 500
	server.data_received.connect(_echo)
	if server.listen(port) != OK:
		printerr("autobahn echo: cannot listen on port %d" % port)
		quit(1)
		return
	print("autobahn echo listening on %d" % server.get_local_port())


func _process(_delta: float) -> bool:
	server.poll()
	return false


func _echo(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var packet := peer.get_packet()
		var mode := WebSocketServerPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketServerPeer.WRITE_MODE_BINARY
		peer.send(packet, mode)
