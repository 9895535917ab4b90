extends SceneTree
## Shared helpers for the headless engine tests. A test script extends this file,
## overrides run_tests() and is run with:
##   godot --headless --path godot-project --script res://tests/test_x.gd
## It prints "PASS <script>: N checks" and exits 0, or prints each failure and exits 1.

var failures := 0
var checks := 0
var events: Array = []


func _initialize() -> void:
	create_timer(120.0).timeout.connect(_on_watchdog)
	_run()


func _run() -> void:
	# _initialize() runs before the root window enters the tree: wait one frame so that
	# nodes added by a test are inside the tree (get_path(), set_multiplayer() need it).
	await process_frame
	print("RUN ", get_script().resource_path)
	await run_tests()
	if failures == 0:
		print("PASS %s: %d checks" % [get_script().resource_path, checks])
	else:
		printerr("FAIL %s: %d of %d checks failed" % [get_script().resource_path, failures, checks])
	quit(1 if failures > 0 else 0)


func _on_watchdog() -> void:
	printerr("FAIL %s: timed out after 120 s (%d checks, %d failed)" % [get_script().resource_path, checks, failures])
	quit(2)


## Overridden by each test.
func run_tests() -> void:
	pass


func check(condition: bool, what: String) -> bool:
	checks += 1
	if not condition:
		failures += 1
		printerr("  FAIL: ", what)
	return condition


func check_eq(actual, expected, what: String) -> bool:
	return check(typeof(actual) == typeof(expected) and actual == expected,
			"%s: expected %s, got %s" % [what, var_to_str(expected), var_to_str(actual)])


## Calls poll() on every object in `pollers` each frame until `condition` returns true;
## false after `seconds`.
func wait_until(condition: Callable, pollers: Array, seconds := 5.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(seconds * 1000.0)
	while true:
		for p in pollers:
			p.poll()
		if condition.call():
			return true
		if Time.get_ticks_msec() > deadline:
			return false
		await process_frame
	return false


## Polls for `seconds`, whatever happens.
func poll_for(pollers: Array, seconds: float) -> void:
	var deadline := Time.get_ticks_msec() + int(seconds * 1000.0)
	while Time.get_ticks_msec() < deadline:
		for p in pollers:
			p.poll()
		await process_frame


## Records every signal of a WebSocketServer into `events` as [name, args...].
func record(server: WebSocketServer) -> void:
	server.client_connected.connect(func(id, protocol): events.append(["connected", id, protocol]))
	server.client_disconnected.connect(func(id, clean): events.append(["disconnected", id, clean]))
	server.client_close_request.connect(func(id, code, reason): events.append(["close_request", id, code, reason]))
	server.data_received.connect(func(id): events.append(["data", id]))
	server.peer_connected.connect(func(id): events.append(["peer_connected", id]))
	server.peer_disconnected.connect(func(id): events.append(["peer_disconnected", id]))


func named(name: String) -> Array:
	return events.filter(func(e): return e[0] == name)


func count(name: String) -> int:
	return named(name).size()


## The Python interpreter with `websockets` (WS_PYTHON, set by the test runner).
func python() -> String:
	var py := OS.get_environment("WS_PYTHON")
	if py.is_empty():
		check(false, "WS_PYTHON is not set: run the engine tests through `bash tools/test.sh` or set it to a Python with websockets")
	return py


## Starts a Python client script from res://tests/clients/ with arguments; returns its pid.
func start_python(script: String, args: Array) -> int:
	var path := ProjectSettings.globalize_path("res://tests/clients/" + script)
	var all := PackedStringArray([path])
	for a in args:
		all.append(str(a))
	var pid := OS.create_process(python(), all)
	check(pid > 0, "start python %s" % script)
	return pid


## Waits for a process to end (polling the given objects meanwhile); returns its exit code, or -1.
func wait_process(pid: int, pollers: Array, seconds := 20.0) -> int:
	var ended := await wait_until(func(): return not OS.is_process_running(pid), pollers, seconds)
	if not ended:
		OS.kill(pid)
		return -1
	return OS.get_process_exit_code(pid)


## A node at /root/<branch_name> with a SceneMultiplayer of its own and a child "Game"
## made from `game_script`: one side of a high-level multiplayer test. Returns
## {"root": node, "mp": SceneMultiplayer, "game": Node}.
func multiplayer_branch(branch_name: String, game_script: Script) -> Dictionary:
	var node := Node.new()
	node.name = branch_name
	root.add_child(node)
	var mp := SceneMultiplayer.new()
	set_multiplayer(mp, node.get_path())
	var game: Node = game_script.new()
	game.name = "Game"
	node.add_child(game)
	return {"root": node, "mp": mp, "game": game}


## A raw TCP client that sends a valid upgrade request and then does nothing (never reads
## nor answers): a dead peer, or one whose buffers fill up. Keep the returned object.
func raw_upgraded(port: int) -> StreamPeerTCP:
	var tcp := StreamPeerTCP.new()
	tcp.connect_to_host("127.0.0.1", port)
	check(await wait_until(func(): return tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED, [tcp]), "raw client connects")
	tcp.put_data(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			+ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").to_utf8_buffer())
	return tcp
