extends SceneTree
## Players of tests/it/slow_client.rs: --count stock WebSocketMultiplayerPeer clients in one
## process, each in a SceneMultiplayer branch of its own, receiving the world server's
## states and events (res://tests/slow/world.gd). When the server says it stopped, or
## --give-up seconds after the start, each prints "REPORT {json}" (its id, states
## received, state age p50/p95/max, events received and whether in order, what the server
## said it sent) and leaves; the process quits when all have.
##   godot --headless --path godot-project --script res://tests/slow/world_client.gd -- \
##       --url=ws://127.0.0.1:9400/ --count=3 --label=fast --give-up=90

const WORLD := preload("res://tests/slow/world.gd")

var label := "player"
var give_up_msec := 90_000
## One per player: {"mp": SceneMultiplayer, "world": Node, "reported": bool}.
var players: Array[Dictionary] = []


func _initialize() -> void:
	var url := ""
	var count := 1
	for arg in OS.get_cmdline_user_args():
		var kv := arg.trim_prefix("--").split("=", true, 1)
		match kv[0]:
			"url":
				url = kv[1]
			"count":
				count = int(kv[1])
			"label":
				label = kv[1]
			"give-up":
				give_up_msec = int(float(kv[1]) * 1000)
	for i in count:
		var branch := Node.new()
		branch.name = "Game%d" % i
		root.add_child(branch)
		var mp := SceneMultiplayer.new()
		set_multiplayer(mp, NodePath("/root/" + branch.name))
		var world: Node = WORLD.new()
		world.name = "World"
		branch.add_child(world)
		var peer := WebSocketMultiplayerPeer.new()
		if peer.create_client(url) != OK:
			printerr("world client: cannot connect to %s" % url)
			quit(1)
			return
		mp.multiplayer_peer = peer
		players.append({"mp": mp, "world": world, "reported": false})


func _process(_delta: float) -> bool:
	var left := 0
	for p in players:
		if p.reported:
			continue
		var world: Node = p.world
		if world.finished or Time.get_ticks_msec() > give_up_msec:
			_report(p)
			p.reported = true
			(p.mp as SceneMultiplayer).multiplayer_peer.close()
		else:
			left += 1
	return left == 0


func _report(p: Dictionary) -> void:
	var world: Node = p.world
	var ages: Array[float] = world.ages_msec.duplicate()
	ages.sort()
	var at := func(q: float) -> float: return -1.0 if ages.is_empty() else ages[mini(ages.size() - 1, int(ages.size() * q))]
	var in_order: bool = world.events == range(world.events.size())
	print("REPORT ", JSON.stringify({
		"label": label,
		"id": (p.mp as SceneMultiplayer).get_unique_id(),
		"states": world.states,
		"age_p50": at.call(0.5),
		"age_p95": at.call(0.95),
		"age_max": -1.0 if ages.is_empty() else ages[-1],
		"events": world.events.size(),
		"in_order": in_order,
		"finished": world.finished,
		"ticks_sent": world.ticks_sent,
		"events_sent": world.events_sent,
	}))
