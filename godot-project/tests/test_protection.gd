extends "res://tests/harness.gd"
## The open-internet properties in the engine: heartbeat_interval, max_connections,
## max_connections_per_ip. Godot's own WebSocketPeer clients answer the pings and stay;
## a raw TCP client that upgrades and then goes silent is dropped; past the limit a client
## never opens; a slot frees up when a client leaves.


func run_tests() -> void:
	var s := WebSocketServer.new()
	check_eq(s.heartbeat_interval, 0.0, "heartbeat_interval default (off)")
	check_eq(s.max_connections, 0, "max_connections default (no limit)")
	check_eq(s.max_connections_per_ip, 0, "max_connections_per_ip default (no limit)")
	s.max_connections = -1  # an error message; the old value stays
	check_eq(s.max_connections, 0, "a negative max_connections is refused")
	s.heartbeat_interval = -2.0
	check_eq(s.heartbeat_interval, 0.0, "a negative heartbeat_interval is refused")
	check_eq(s.reconnect_grace_period, 0.0, "reconnect_grace_period default (off)")
	s.reconnect_grace_period = -1.0
	check_eq(s.reconnect_grace_period, 0.0, "a negative reconnect_grace_period is refused")
	s.reconnect_grace_period = 2.5
	check_eq(s.reconnect_grace_period, 2.5, "reconnect_grace_period set")
	s.reconnect_grace_period = 0.0
	check(not s.is_peer_away(12345), "is_peer_away of an unknown id")

	# Deployment properties (tested with real proxies in tests/it/deploy.rs).
	check_eq(s.trusted_proxies, PackedStringArray(), "trusted_proxies default")
	check_eq(s.proxy_protocol, false, "proxy_protocol default")
	check_eq(s.health_check_path, "", "health_check_path default")
	s.trusted_proxies = PackedStringArray(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
	check_eq(s.trusted_proxies.size(), 3, "trusted_proxies set")
	s.trusted_proxies = PackedStringArray(["10.0.0.0/40"])
	check_eq(s.trusted_proxies.size(), 3, "a bad range leaves the list unchanged")
	s.trusted_proxies = PackedStringArray()
	s.health_check_path = "/healthz"
	check_eq(s.health_check_path, "/healthz", "health_check_path set")
	s.health_check_path = "healthz"
	check_eq(s.health_check_path, "/healthz", "a path without / is refused")
	s.health_check_path = ""

	s.bind_ip = "127.0.0.1"
	s.heartbeat_interval = 0.5
	s.max_connections = 3
	check_eq(s.heartbeat_interval, 0.5, "heartbeat_interval set")
	check_eq(s.max_connections, 3, "max_connections set")
	record(s)
	check_eq(s.listen(0), OK, "listen")
	var url := "ws://127.0.0.1:%d/" % s.get_local_port()
	var a := WebSocketPeer.new()
	var b := WebSocketPeer.new()
	a.connect_to_url(url)
	b.connect_to_url(url)
	check(await wait_until(func(): return count("connected") == 2, [s, a, b]), "two Godot clients")
	# A raw client that upgrades, then never reads nor answers again.
	var dead := await raw_upgraded(s.get_local_port())
	check(await wait_until(func(): return count("connected") == 3, [s, a, b]), "raw client upgraded")
	var dead_id: int = named("connected")[2][1]
	var silent_since := Time.get_ticks_msec()

	# The limit: a fourth client never opens.
	var c := WebSocketPeer.new()
	c.connect_to_url(url)
	await poll_for([s, a, b, c], 0.5)
	check(c.get_ready_state() != WebSocketPeer.STATE_OPEN, "past max_connections a client never opens")
	check_eq(count("connected"), 3, "and never becomes a peer")

	# The silent client is dropped within two intervals plus a second; the Godot clients
	# answer the pings and stay.
	check(await wait_until(func(): return named("disconnected").any(func(e): return e[1] == dead_id), [s, a, b], 3.0),
			"the silent client is dropped")
	var after := (Time.get_ticks_msec() - silent_since) / 1000.0
	check(after <= 2.0, "within two intervals plus a second (%.2f s)" % after)
	check_eq(named("disconnected").filter(func(e): return e[1] == dead_id)[0], ["disconnected", dead_id, false], "an unclean disconnect")
	await poll_for([s, a, b], 1.5)
	check_eq(a.get_ready_state(), WebSocketPeer.STATE_OPEN, "Godot client a still open after 4 intervals")
	check_eq(b.get_ready_state(), WebSocketPeer.STATE_OPEN, "Godot client b still open")
	check_eq(count("disconnected"), 1, "only the silent client was dropped")

	# Its slot is free again.
	var d := WebSocketPeer.new()
	d.connect_to_url(url)
	check(await wait_until(func(): return d.get_ready_state() == WebSocketPeer.STATE_OPEN, [s, a, b, d]), "a new client gets the free slot")

	# max_connections_per_ip: every client here comes from 127.0.0.1.
	s.max_connections = 0
	s.max_connections_per_ip = 3
	var e := WebSocketPeer.new()
	e.connect_to_url(url)
	await poll_for([s, a, b, d, e], 0.5)
	check(e.get_ready_state() != WebSocketPeer.STATE_OPEN, "past max_connections_per_ip a client never opens")
	s.max_connections_per_ip = 0
	var f := WebSocketPeer.new()
	f.connect_to_url(url)
	check(await wait_until(func(): return f.get_ready_state() == WebSocketPeer.STATE_OPEN, [s, a, b, d, f]), "no limit again")
	s.stop()
