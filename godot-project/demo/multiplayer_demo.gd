extends Node
## Godot's high-level multiplayer over WebSocketServer (listen(..., true)).
##
## Server: godot --headless --path godot-project res://demo/multiplayer_demo.tscn -- --server --port=9081
## Client: godot --headless --path godot-project res://demo/multiplayer_demo.tscn -- --connect=ws://127.0.0.1:9081
##         (add --once to leave after the server relayed your hello back)
## Clients are stock WebSocketMultiplayerPeer games (desktop or web export). Each client
## says hello by RPC; the server relays every line to everyone with the sender's id.

var server: WebSocketServer
var leave_after_hello := false


func _ready() -> void:
	var port := 9081
	var url := ""
	var is_server := false
	for arg in OS.get_cmdline_user_args():
		if arg == "--server":
			is_server = true
		elif arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--connect="):
			url = arg.trim_prefix("--connect=")
		elif arg == "--once":
			leave_after_hello = true
	multiplayer.peer_connected.connect(func(id): print("peer %d joined" % id))
	multiplayer.peer_disconnected.connect(func(id): print("peer %d left" % id))
	if is_server:
		server = WebSocketServer.new()
		if server.listen(port, PackedStringArray(), true) != OK:
			get_tree().quit(1)
			return
		multiplayer.multiplayer_peer = server
		print("Multiplayer server on ws://127.0.0.1:%d" % server.get_local_port())
	elif not url.is_empty():
		var peer := WebSocketMultiplayerPeer.new()
		peer.create_client(url)
		multiplayer.multiplayer_peer = peer
		multiplayer.connected_to_server.connect(func():
			print("connected as %d" % multiplayer.get_unique_id())
			post.rpc_id(1, "hello from %d" % multiplayer.get_unique_id()))
		multiplayer.server_disconnected.connect(func(): get_tree().quit())
	else:
		print("Pass -- --server [--port=N] or -- --connect=ws://HOST:PORT")
		get_tree().quit(1)


## Client -> server: a chat line.
@rpc("any_peer", "call_remote", "reliable")
func post(text: String) -> void:
	if multiplayer.is_server():
		show_line.rpc(multiplayer.get_remote_sender_id(), text)
		show_line(multiplayer.get_remote_sender_id(), text)


## Server -> everyone: a chat line and who wrote it.
@rpc("authority", "call_remote", "reliable")
func show_line(from: int, text: String) -> void:
	print("[%d] %s" % [from, text])
	if leave_after_hello and from == multiplayer.get_unique_id():
		get_tree().quit()
