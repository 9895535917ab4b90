extends "res://tests/harness.gd"
## Who gets in, in the engine: the game decides at the upgrade (a token in the query
## string checked against a Dictionary, as the class help shows), decisions later and bad
## calls, allowed_origins and the rate-limit properties, and stop(grace_period) with
## Godot's own clients.

var server: WebSocketServer
var tokens := {"secret-1": "alice", "secret-2": "bob"}
var requests: Array = []
var joined: Array = []


func run_tests() -> void:
	server = WebSocketServer.new()
	check_eq(server.approve_upgrades, false, "approve_upgrades default")
	check_eq(server.allowed_origins, PackedStringArray(), "allowed_origins default")
	check_eq(server.max_messages_per_second, 0, "max_messages_per_second default")
	check_eq(server.max_bytes_per_second, 0, "max_bytes_per_second default")
	server.bind_ip = "127.0.0.1"
	server.approve_upgrades = true
	record(server)
	server.upgrade_requested.connect(_on_upgrade_requested)
	server.client_connected.connect(func(id, _p): joined.append(server.get_peer(id).get_upgrade_data()))
	check_eq(server.listen(0, PackedStringArray(["game"])), OK, "listen")
	var base := "ws://127.0.0.1:%d/play" % server.get_local_port()

	var alice := _client(base + "?token=secret-1&room=7")
	var mallory := _client(base + "?token=wrong")
	# The client may see the 101 before the server's next poll() reports the peer.
	check(await wait_until(func(): return alice.get_ready_state() == WebSocketPeer.STATE_OPEN and mallory.get_ready_state() == WebSocketPeer.STATE_CLOSED and joined.size() == 1, [server, alice, mallory]),
			"alice gets in, mallory is refused")
	check_eq(joined, [{"user": "alice"}], "the data attached at the upgrade is on the peer")
	check_eq(count("connected"), 1, "the refused request emitted no peer signal")
	check_eq(requests.size(), 2, "upgrade_requested for each request")
	var alice_at := 0 if requests[0][1].query.get("token") == "secret-1" else 1
	var req: Dictionary = requests[alice_at][1]
	check_eq(req.path, "/play", "request path")
	check_eq(req.query, {"token": "secret-1", "room": "7"}, "request query")
	check_eq(req.address, "127.0.0.1", "request address")
	check_eq(req.protocols, PackedStringArray(["game"]), "offered protocols")
	check_eq(req.protocol, "game", "selected protocol")
	check(req.headers.has("sec-websocket-key"), "request headers")

	# Bad calls: an Error and a message, nothing breaks.
	var refused_id: int = requests[1 - alice_at][0]
	check_eq(server.accept_upgrade(refused_id, null), ERR_ALREADY_IN_USE, "a second decision")
	check_eq(server.refuse_upgrade(424242), ERR_DOES_NOT_EXIST, "an unknown id")

	# A decision that comes later (as after an HTTPRequest), with a response header.
	requests.clear()
	server.upgrade_requested.disconnect(_on_upgrade_requested)
	server.upgrade_requested.connect(func(id, request): requests.append([id, request]))
	var late := _client(base + "?token=secret-2")
	check(await wait_until(func(): return requests.size() == 1, [server, late]), "a request waits")
	var late_id: int = requests[0][0]
	check_eq(server.refuse_upgrade(late_id, 200), ERR_INVALID_PARAMETER, "status 200 cannot refuse")
	check_eq(server.accept_upgrade(late_id, null, "other"), ERR_INVALID_PARAMETER, "a protocol not offered")
	check_eq(server.accept_upgrade(late_id, null, "", PackedStringArray(["no colon"])), ERR_INVALID_PARAMETER, "a bad header line")
	await poll_for([server, late], 0.3)
	check_eq(late.get_ready_state(), WebSocketPeer.STATE_CONNECTING, "still waiting for the decision")
	check_eq(server.accept_upgrade(late_id, "bob", "", PackedStringArray(["Set-Cookie: session=abc"])), OK, "accept later")
	check(await wait_until(func(): return late.get_ready_state() == WebSocketPeer.STATE_OPEN and joined.size() == 2, [server, late]), "the late client gets in")
	check_eq(joined[-1], "bob", "any Variant can be attached")

	# Undecided until handshake_timeout: refused, and a decision then is an error.
	server.handshake_timeout = 0.5
	server.stop()
	check_eq(server.listen(0, PackedStringArray(["game"])), OK, "listen again")
	requests.clear()
	var undecided := _client("ws://127.0.0.1:%d/" % server.get_local_port())
	check(await wait_until(func(): return undecided.get_ready_state() == WebSocketPeer.STATE_CLOSED, [server, undecided], 3.0), "undecided: refused")
	check_eq(requests.size(), 1, "it was asked")
	if requests.size() == 1:
		check_eq(server.accept_upgrade(requests[0][0], null), ERR_DOES_NOT_EXIST, "too late to decide")
	server.stop()

	# allowed_origins: a bad entry is refused and leaves the list unchanged.
	server.allowed_origins = PackedStringArray(["https://game.example.com", "https://*.example.org"])
	check_eq(server.allowed_origins.size(), 2, "origins set")
	server.allowed_origins = PackedStringArray(["no scheme"])
	check_eq(server.allowed_origins.size(), 2, "a bad entry leaves the list unchanged")
	server.max_messages_per_second = 100
	server.max_bytes_per_second = 65536
	check_eq(server.max_messages_per_second, 100, "max_messages_per_second set")
	check_eq(server.max_bytes_per_second, 65536, "max_bytes_per_second set")
	server.max_messages_per_second = -5
	check_eq(server.max_messages_per_second, 100, "a negative limit is refused")

	await _graceful_stop()


func _on_upgrade_requested(id: int, request: Dictionary) -> void:
	requests.append([id, request])
	var user = tokens.get(request.query.get("token", ""))
	if user == null:
		server.refuse_upgrade(id, 401, "unknown token")
	else:
		server.accept_upgrade(id, {"user": user})


func _client(url: String) -> WebSocketPeer:
	var c := WebSocketPeer.new()
	c.supported_protocols = PackedStringArray(["game"])
	c.connect_to_url(url)
	return c


## stop(grace_period): newcomers refused, the game keeps serving, then 1001 for everyone,
## client_disconnected for each, and drained.
func _graceful_stop() -> void:
	var s := WebSocketServer.new()
	s.bind_ip = "127.0.0.1"
	events.clear()
	record(s)
	var drained := [false]
	s.drained.connect(func(): drained[0] = true)
	check_eq(s.listen(0), OK, "listen")
	var url := "ws://127.0.0.1:%d/" % s.get_local_port()
	var a := WebSocketPeer.new()
	var b := WebSocketPeer.new()
	a.connect_to_url(url)
	b.connect_to_url(url)
	check(await wait_until(func(): return count("connected") == 2, [s, a, b]), "two clients")
	s.stop(1.0)
	check(s.is_draining(), "draining")
	check(s.is_listening(), "still listening during the grace")
	var newcomer := WebSocketPeer.new()
	newcomer.connect_to_url(url)
	await poll_for([s, a, b, newcomer], 0.4)
	check(newcomer.get_ready_state() != WebSocketPeer.STATE_OPEN, "a newcomer is refused during the grace")
	for id in s.get_peer_ids():
		s.get_peer(id).send_text("still served")
	check(await wait_until(func(): return a.get_available_packet_count() == 1 and b.get_available_packet_count() == 1, [s, a, b]), "messages sent during the grace arrive")
	check(await wait_until(func(): return drained[0], [s, a, b], 5.0), "drained")
	check_eq(count("disconnected"), 2, "client_disconnected for each before drained")
	check(not s.is_listening() and not s.is_draining(), "stopped")
	await poll_for([a, b], 0.3)
	check_eq(a.get_close_code(), 1001, "closed with 1001 (going away)")
	check_eq(b.get_close_code(), 1001, "closed with 1001")
