extends SceneTree
## A stock Godot 4 multiplayer client in its own process: joins with
## WebSocketMultiplayerPeer.create_client(url), pings the server by RPC, waits for the
## answer and exits 0. Arguments after "--": --url=ws://...


func _initialize() -> void:
	create_timer(30.0).timeout.connect(func(): printerr("remote client: timed out"); quit(2))
	_run()


func _run() -> void:
	await process_frame  # the root enters the tree after _initialize()
	var url := ""
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--url="):
			url = arg.trim_prefix("--url=")
	var game: Node = load("res://tests/mp/game.gd").new()
	game.name = "Game"
	root.add_child(game)
	var peer := WebSocketMultiplayerPeer.new()
	if peer.create_client(url) != OK:
		printerr("remote client: create_client failed")
		quit(1)
		return
	root.multiplayer.multiplayer_peer = peer
	while peer.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
		if peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED:
			printerr("remote client: could not connect")
			quit(1)
			return
		await process_frame
	print("remote client: connected as ", root.multiplayer.get_unique_id())
	game.ping.rpc_id(1, "from another process")
	while game.received.is_empty():
		await process_frame
	print("remote client: got ", game.received[0])
	var ok: bool = game.received[0] == [1, "pong from another process"]
	peer.close()
	quit(0 if ok else 1)
