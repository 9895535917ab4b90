extends "res://tests/harness.gd"
## listen(port, protocols, true): WebSocketServer as the MultiplayerPeer of Godot's
## high-level multiplayer, with stock WebSocketMultiplayerPeer clients on their own
## MultiplayerAPI branches of this SceneTree, and one in a separate Godot process:
## RPCs every way (relay included), MultiplayerSpawner + MultiplayerSynchronizer,
## a client leaving, refuse_new_connections.

const GAME := preload("res://tests/mp/game.gd")

var ws: WebSocketServer
var branches := {}  # name -> {root, mp, game, spawner, players}
var mp_events: Array = []


func run_tests() -> void:
	ws = WebSocketServer.new()
	ws.bind_ip = "127.0.0.1"
	record(ws)
	check_eq(ws.listen(0, PackedStringArray(), true), OK, "listen with gd_mp_api")
	var url := "ws://127.0.0.1:%d/" % ws.get_local_port()
	var server := _branch("Server")
	server.mp.multiplayer_peer = ws
	check_eq(server.mp.get_unique_id(), 1, "server id 1")
	check(server.mp.is_server(), "the branch is the server")
	server.mp.peer_connected.connect(func(id): mp_events.append(["server+", id]))
	server.mp.peer_disconnected.connect(func(id): mp_events.append(["server-", id]))

	var c1 := _client("Client1", url)
	var c2 := _client("Client2", url)
	check(await wait_until(func(): return _connected(c1) and _connected(c2) and server.mp.get_peers().size() == 2, []),
			"two clients joined")
	var id1: int = c1.mp.get_unique_id()
	var id2: int = c2.mp.get_unique_id()
	check(id1 >= 2 and id2 >= 2 and id1 != id2, "distinct client ids %d %d" % [id1, id2])
	var server_peers: Array = server.mp.get_peers()
	server_peers.sort()
	var expected := [id1, id2]
	expected.sort()
	check_eq(server_peers, expected, "the server knows both")
	check(ws.has_peer(id1) and ws.has_peer(id2), "has_peer for multiplayer clients")
	check_eq(count("data"), 0, "data_received is not emitted in gd_mp_api mode")
	check_eq(named("peer_connected").size(), 2, "peer_connected emitted")
	check_eq(named("connected").size(), 2, "client_connected emitted too")

	# Each client learns of the other through the server's SceneMultiplayer (relay).
	check(await wait_until(func(): return c1.mp.get_peers().has(id2) and c2.mp.get_peers().has(id1), []),
			"the clients know each other")

	# RPC server -> client, client -> server, client -> client through the relay.
	server.game.hello.rpc_id(id1, "server to 1")
	c1.game.hello.rpc_id(1, "1 to server")
	c1.game.hello.rpc_id(id2, "1 to 2")
	server.game.hello.rpc("server to all")
	check(await wait_until(func(): return c1.game.received.size() >= 2 and c2.game.received.size() >= 2 and server.game.received.size() >= 1, []), "RPCs arrive")
	check(c1.game.received.has([1, "server to 1"]), "server to client")
	check(c1.game.received.has([1, "server to all"]), "broadcast reaches client 1")
	check(c2.game.received.has([1, "server to all"]), "broadcast reaches client 2")
	check(c2.game.received.has([id1, "1 to 2"]), "client to client through the server's relay")
	check(server.game.received.has([id1, "1 to server"]), "client to server")

	# MultiplayerSpawner + MultiplayerSynchronizer.
	var player: Node2D = server.spawner.spawn(7)
	player.position = Vector2(10, 20)
	check(await wait_until(func(): return _synced(c1) and _synced(c2), [], 10.0), "spawned and synchronized on clients")
	player.position = Vector2(30, 40)
	check(await wait_until(func(): return _player_pos(c1) == Vector2(30, 40) and _player_pos(c2) == Vector2(30, 40), [], 10.0),
			"position updates replicate")

	# A stock client in another Godot process.
	var exe := OS.get_executable_path()
	var project := ProjectSettings.globalize_path("res://")
	var args := PackedStringArray(["--headless", "--path", project,
			"--script", "res://tests/mp/remote_client.gd", "--", "--url=" + url])
	# An engine run under an emulator (the arm64 engine under qemu-user) starts the other
	# one through it: GWS_ENGINE_LAUNCHER is that command line.
	var launcher := OS.get_environment("GWS_ENGINE_LAUNCHER").split(" ", false)
	if not launcher.is_empty():
		args = launcher.slice(1) + PackedStringArray([exe]) + args
		exe = launcher[0]
	var pid := OS.create_process(exe, args)
	check(pid > 0, "start the remote Godot client")
	var code := await wait_process(pid, [], 40.0)
	check_eq(code, 0, "remote Godot client exit code (pinged and got the answer)")
	check(server.game.received.any(func(r): return r[1] == "from another process"), "remote client's RPC reached the server")

	# A client leaving: everyone sees peer_disconnected.
	var c1_saw: Array = []
	c1.mp.peer_disconnected.connect(func(id): c1_saw.append(id))
	c2.mp.multiplayer_peer.close()
	check(await wait_until(func(): return mp_events.has(["server-", id2]) and c1_saw.has(id2), [], 10.0),
			"client 2 leaving is seen by the server and by client 1")
	check_eq(mp_events.filter(func(e): return e == ["server-", id2]).size(), 1, "peer_disconnected once")
	check(not ws.has_peer(id2), "gone from the server")

	# refuse_new_connections: a new client never gets in; client 1 is untouched.
	ws.refuse_new_connections = true
	check(ws.is_refusing_new_connections(), "refusing")
	var c3 := _client("Client3", url)
	await poll_for([], 1.5)
	check(not _connected(c3), "new client refused")
	check(await wait_until(func(): return server.mp.get_peers().size() == 1, [], 10.0),
			"one client left (client 2 and the remote one are gone, client 3 refused)")
	server.game.hello.rpc_id(id1, "still here")
	check(await wait_until(func(): return c1.game.received.has([1, "still here"]), []), "client 1 unaffected")
	ws.refuse_new_connections = false

	# Every peer that got peer_connected got peer_disconnected once, after stop.
	c1.mp.multiplayer_peer.close()
	check(await wait_until(func(): return mp_events.has(["server-", id1]), [], 10.0), "client 1 leaves")
	var joined := named("peer_connected").map(func(e): return e[1])
	for id in joined:
		check_eq(named("peer_disconnected").filter(func(e): return e[1] == id).size(), 1,
				"peer_disconnected once for %d" % id)
	ws.stop()
	check_eq(ws.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "disconnected after stop")


## A node at /root/<name> with its own SceneMultiplayer, a Game node, and a spawner.
func _branch(branch_name: String) -> Dictionary:
	var node := Node.new()
	node.name = branch_name
	root.add_child(node)
	var mp := SceneMultiplayer.new()
	set_multiplayer(mp, node.get_path())
	var game: Node = GAME.new()
	game.name = "Game"
	node.add_child(game)
	var players := Node.new()
	players.name = "Players"
	node.add_child(players)
	var spawner := MultiplayerSpawner.new()
	spawner.name = "Spawner"
	node.add_child(spawner)
	spawner.spawn_path = NodePath("../Players")
	spawner.spawn_function = _make_player
	var b := {"root": node, "mp": mp, "game": game, "spawner": spawner, "players": players}
	branches[branch_name] = b
	return b


func _client(branch_name: String, url: String) -> Dictionary:
	var b := _branch(branch_name)
	var peer := WebSocketMultiplayerPeer.new()
	check_eq(peer.create_client(url), OK, "create_client for " + branch_name)
	b.mp.multiplayer_peer = peer
	return b


func _connected(b: Dictionary) -> bool:
	return b.mp.multiplayer_peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
			and b.mp.get_unique_id() > 1


func _make_player(data) -> Node:
	var p := Node2D.new()
	p.name = "Player%d" % data
	var sync := MultiplayerSynchronizer.new()
	sync.name = "Sync"
	var cfg := SceneReplicationConfig.new()
	cfg.add_property(NodePath(".:position"))
	cfg.property_set_spawn(NodePath(".:position"), true)
	cfg.property_set_replication_mode(NodePath(".:position"), SceneReplicationConfig.REPLICATION_MODE_ALWAYS)
	sync.replication_config = cfg
	p.add_child(sync)
	return p


func _player_pos(b: Dictionary) -> Variant:
	var p: Node2D = b.players.get_node_or_null("Player7")
	return p.position if p != null else null


func _synced(b: Dictionary) -> bool:
	return _player_pos(b) == Vector2(10, 20)
