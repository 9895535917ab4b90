extends SceneTree
## The server of tests/it/slow_client.rs: a game on Godot's high-level multiplayer that sends
## every player a world state of 3,000 bytes 60 times a second (unreliable: 1.44 Mbit/s)
## and a numbered event 10 times a second (reliable), for --seconds once --players have
## joined, then says how much it sent. On our class (--kind=ours, listen with gd_mp_api)
## or on Godot's WebSocketMultiplayerPeer (--kind=godot_mp), both with their defaults.
## Prints "SENT {json}" (ticks, events, and per peer the most bytes it had queued and,
## for ours, the unreliable packets dropped for it), and "DONE" once every player left.
##   godot --headless --path godot-project --script res://tests/slow/world_server.gd -- \
##       --kind=ours --port=9400 --players=4 --seconds=20

const WORLD := preload("res://tests/slow/world.gd")
const TICK_USEC := 16_667

var kind := "ours"
var players := 4
var seconds := 20.0
var ours: WebSocketServer
var godot_mp: WebSocketMultiplayerPeer
var mp := SceneMultiplayer.new()
var world: Node
var blob := PackedByteArray()
var joined := 0
var started_usec := 0
var next_tick_usec := 0
var ticks := 0
var events := 0
var sent := false
var stop_msec := 0
## Per peer id: the most bytes it had queued at a tick.
var most_queued := {}


func _initialize() -> void:
	var port := 0
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		match kv[0]:
			"kind":
				kind = kv[1]
			"port":
				port = int(kv[1])
			"players":
				players = int(kv[1])
			"seconds":
				seconds = float(kv[1])
	blob.resize(3000)
	for i in blob.size():
		blob[i] = i * 7 % 251
	var branch := Node.new()
	branch.name = "Game"
	root.add_child(branch)
	set_multiplayer(mp, NodePath("/root/" + branch.name))
	world = WORLD.new()
	world.name = "World"
	branch.add_child(world)
	var err := OK
	if kind == "ours":
		ours = WebSocketServer.new()
		ours.bind_ip = "127.0.0.1"
		err = ours.listen(port, PackedStringArray(), true)
		mp.multiplayer_peer = ours
	else:
		godot_mp = WebSocketMultiplayerPeer.new()
		err = godot_mp.create_server(port, "127.0.0.1")
		mp.multiplayer_peer = godot_mp
	if err != OK:
		printerr("world server: cannot listen on %d (%s)" % [port, error_string(err)])
		quit(1)
		return
	mp.peer_connected.connect(func(_id): joined += 1)
	print("READY %s %d" % [kind, port])


func _process(_delta: float) -> bool:
	var now := Time.get_ticks_usec()
	if started_usec == 0:
		if joined < players:
			return false
		started_usec = now
		next_tick_usec = now
		print("STARTED with %d players" % joined)
	if sent:
		if mp.get_peers().is_empty() or Time.get_ticks_msec() > stop_msec:
			print("DONE")
			return true
		return false
	while now >= next_tick_usec and not sent:
		if now - started_usec >= int(seconds * 1e6):
			world.finish.rpc(ticks, events)
			_report()
			sent = true
			stop_msec = Time.get_ticks_msec() + 60_000
			break
		var usec := int(Time.get_unix_time_from_system() * 1e6)
		world.state.rpc(ticks, usec, blob)
		if ticks % 6 == 0:
			world.event.rpc(events)
			events += 1
		ticks += 1
		next_tick_usec += TICK_USEC
		for id in mp.get_peers():
			var queued := _queued(id)
			most_queued[id] = maxi(most_queued.get(id, 0), queued)
	return false


func _queued(id: int) -> int:
	if ours != null:
		var peer := ours.get_peer(id)
		return 0 if peer == null else peer.get_current_outbound_buffered_amount()
	var peer := godot_mp.get_peer(id)
	return 0 if peer == null else peer.get_current_outbound_buffered_amount()


func _report() -> void:
	var per_peer := {}
	for id in most_queued:
		var entry := {"most_queued": most_queued[id]}
		if ours != null and ours.get_peer(id) != null:
			entry["dropped"] = ours.get_peer(id).get_dropped_packets()
		per_peer[str(id)] = entry
	print("SENT ", JSON.stringify({"kind": kind, "ticks": ticks, "events": events, "peers": per_peer}))
