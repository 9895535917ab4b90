extends "res://tests/harness.gd"
## WebSocketServer against client processes nobody here wrote: Python `websockets`
## (a full echo round trip with a clean close, and a client that just exits).

var server: WebSocketServer


func run_tests() -> void:
	server = WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	record(server)
	server.data_received.connect(_echo)
	check_eq(server.listen(0, PackedStringArray(["demo"])), OK, "listen")
	var url := "ws://127.0.0.1:%d/" % server.get_local_port()

	var pid := start_python("echo_client.py", [url, "demo"])
	var code := await wait_process(pid, [server])
	check_eq(code, 0, "python echo client exit code")
	check(await wait_until(func(): return count("disconnected") == 1, [server]), "python client disconnects")
	var id: int = named("connected")[0][1]
	check_eq(named("connected")[0], ["connected", id, "demo"], "client_connected with protocol")
	check_eq(echoed, 102, "every message received and echoed")
	# A handler that reads all waiting messages is not called again for the ones it read.
	check(count("data") >= 1 and count("data") <= 102, "data_received at most once per message (%d)" % count("data"))
	check_eq(named("close_request"), [["close_request", id, 4000, "done"]], "close request from python")
	check_eq(named("disconnected"), [["disconnected", id, true]], "clean close")

	events.clear()
	pid = start_python("abrupt_client.py", [url, "demo"])
	check(await wait_until(func(): return count("disconnected") == 1, [server], 15.0), "abrupt client noticed")
	check_eq(count("close_request"), 0, "no close request from an abrupt exit")
	if count("disconnected") == 1:
		check_eq(named("disconnected")[0][2], false, "abrupt exit is an unclean close")
	var abrupt_id: int = named("connected")[0][1] if count("connected") > 0 else -1
	check(abrupt_id >= 2 and abrupt_id != id, "a new id")

	# A client that connects, speaks and leaves between two polls: every signal of the
	# batch can still reach its peer (found by the connection_bytes fuzz target).
	events.clear()
	var seen_in_connected: Array = []
	var record_peer := func(cid, _protocol): seen_in_connected.append(server.get_peer(cid) != null)
	server.client_connected.connect(record_peer)
	echoes_expected = false
	pid = start_python("burst_client.py", [url, "demo", 3])
	var deadline := Time.get_ticks_msec() + 10000
	while OS.is_process_running(pid) and Time.get_ticks_msec() < deadline:
		OS.delay_msec(20)  # the game is busy: no poll while the client comes and goes
	check_eq(OS.get_process_exit_code(pid), 0, "burst client exit code")
	received.clear()
	server.poll()
	check_eq(count("connected"), 1, "burst client connected")
	check_eq(count("disconnected"), 1, "and gone, in the same poll")
	check_eq(seen_in_connected, [true], "get_peer(id) works in client_connected")
	check_eq(received, ["burst 0", "burst 1", "burst 2"], "every message read in data_received")
	server.client_connected.disconnect(record_peer)
	server.stop()


var echoes_expected := true
var received: Array = []
var echoed := 0


func _echo(id: int) -> void:
	var peer := server.get_peer(id)
	if not echoes_expected:
		while peer.get_available_packet_count() > 0:
			received.append(peer.get_packet().get_string_from_utf8())
		return
	while peer.get_available_packet_count() > 0:
		var data := peer.get_packet()
		echoed += 1
		if peer.was_string_packet():
			peer.send_text(data.get_string_from_utf8())
		else:
			peer.send(data)
