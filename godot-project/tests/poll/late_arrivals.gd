extends SceneTree
## The server of tests/it/engine.rs's test of messages that arrive while poll()'s handlers
## run: listens on --port and prints "READY". A text "slow" is answered "started", then the
## handler keeps the main thread for 500 ms (as a long handler would); every other text is
## answered with itself and the frame it was handled in: "TEXT FRAME".
##   godot --headless --path godot-project --script res://tests/poll/late_arrivals.gd -- --port=9400

var server := WebSocketServer.new()


func _initialize() -> void:
	var port := 0
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	server.data_received.connect(_on_data)
	var err := server.listen(port)
	if err != OK:
		printerr("listen failed: ", error_string(err))
		quit(1)
		return
	print("READY")


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	var text := peer.get_packet().get_string_from_utf8()
	var frame := Engine.get_process_frames()
	if text == "slow":
		peer.put_packet("started".to_utf8_buffer())
		OS.delay_msec(500)
		peer.put_packet(("slow %d" % frame).to_utf8_buffer())
		return
	peer.put_packet(("%s %d" % [text, frame]).to_utf8_buffer())


func _process(_delta: float) -> bool:
	server.poll()
	return false
