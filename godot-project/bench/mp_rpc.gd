extends SceneTree
## High-level multiplayer round trips for tools/bench-engine.sh: stock SceneMultiplayer on
## both sides, RPCs both ways.
##   --role=server --kind=ours|godot_mp --port=N   a server whose Game node answers every
##        ping RPC with a pong RPC (ours: WebSocketServer.listen(port, [], true); godot_mp:
##        WebSocketMultiplayerPeer.create_server)
##   --role=clients --url=ws://... --count=100 --seconds=10   that many stock
##        WebSocketMultiplayerPeer clients in this process (one SceneMultiplayer each), each
##        calling ping by reliable RPC and waiting for its pong, for that long; prints
##        RESULT {"round_trips": N, "per_second": R, "p50_ms": .., "p99_ms": ..}

const GAME := preload("res://bench/rpc_game.gd")

var clients: Array = []
var seconds := 10.0
var started := 0


func _initialize() -> void:
	var role := ""
	var kind := "ours"
	var port := 9200
	var url := ""
	var count := 100
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		match kv[0]:
			"role": role = kv[1]
			"kind": kind = kv[1]
			"port": port = int(kv[1])
			"url": url = kv[1]
			"count": count = int(kv[1])
			"seconds": seconds = float(kv[1])
	await process_frame  # the root enters the tree after _initialize()
	if role == "server":
		var game: Node = GAME.new()
		game.name = "Game"
		root.add_child(game)
		var err := OK
		if kind == "ours":
			var ws := WebSocketServer.new()
			ws.bind_ip = "127.0.0.1"
			err = ws.listen(port, PackedStringArray(), true)
			root.multiplayer.multiplayer_peer = ws
		else:
			var mp := WebSocketMultiplayerPeer.new()
			err = mp.create_server(port, "127.0.0.1")
			root.multiplayer.multiplayer_peer = mp
		if err != OK:
			printerr("rpc server: listen failed %d" % err)
			quit(1)
			return
		print("READY %s %d" % [kind, port])
		return
	# Headless, both processes pace their frames (up to 6,900 µs of sleep each). With the
	# same period, the offset between the two frame clocks stays what the start made it, and
	# it decides whether a reply catches the clients' next frame: one run would measure one
	# offset only. A slightly longer period here sweeps every offset about once a second.
	OS.low_processor_usage_mode_sleep_usec = OS.low_processor_usage_mode_sleep_usec + 53
	# Clients join 8 at a time (Godot's own server accepts one connection per frame and
	# listens with a backlog of 8: a crowd at once would wait for TCP retries).
	var deadline := Time.get_ticks_msec() + 120000
	for i in count:
		while clients.filter(func(c): return not _joined(c)).size() >= 8:
			if Time.get_ticks_msec() > deadline:
				printerr("rpc clients: not all connected")
				quit(1)
				return
			await process_frame
		var node := Node.new()
		node.name = "C%d" % i
		root.add_child(node)
		var mp := SceneMultiplayer.new()
		set_multiplayer(mp, node.get_path())
		var game: Node = GAME.new()
		game.name = "Game"
		node.add_child(game)
		var peer := WebSocketMultiplayerPeer.new()
		peer.create_client(url)
		mp.multiplayer_peer = peer
		clients.append({"mp": mp, "game": game})
	while not clients.all(_joined):
		if Time.get_ticks_msec() > deadline:
			printerr("rpc clients: not all connected")
			quit(1)
			return
		await process_frame
	print("CONNECTED %d" % count)
	started = Time.get_ticks_usec()
	for c in clients:
		c.game.start()


func _joined(c: Dictionary) -> bool:
	return c.mp.get_unique_id() > 1 and c.mp.get_peers().has(1)


func _process(_delta: float) -> bool:
	if started == 0 or (Time.get_ticks_usec() - started) < seconds * 1e6:
		return false
	var rtts: Array = []
	for c in clients:
		rtts.append_array(c.game.rtts)
	rtts.sort()
	var n := rtts.size()
	var result := {
		"round_trips": n,
		"per_second": n / seconds,
		"p50_ms": rtts[n / 2] / 1000.0 if n > 0 else -1.0,
		"p99_ms": rtts[mini(n - 1, n * 99 / 100)] / 1000.0 if n > 0 else -1.0,
	}
	print("RESULT " + JSON.stringify(result))
	return true
