extends "res://tests/harness.gd"
## The addon's WebSocketSessionClient in a headless Godot: GWS_URL (through a relay the test
## cuts now and then), GWS_COUNT numbered messages sent at a steady pace; every echo must come
## back once and in order, across the cuts, as the same peer.

const SessionClient := preload("res://addons/websocket_server/clients/websocket_session_client.gd")


func run_tests() -> void:
	var total := int(OS.get_environment("GWS_COUNT"))
	var client: Node = SessionClient.new()
	root.add_child(client)
	var got: Array = []
	var ids: Array = []
	var moments: Array = []
	client.connected.connect(func(id): ids.append(id))
	client.message_received.connect(func(m): got.append(m))
	client.away.connect(func(): moments.append("away"))
	client.back.connect(func(): moments.append("back"))
	client.closed.connect(func(code, reason): moments.append("closed %d %s" % [code, reason]))
	check_eq(client.connect_to_url(OS.get_environment("GWS_URL")), OK, "connect_to_url")
	check(await wait_until(func(): return ids.size() == 1, []), "connected")
	var id: int = ids[0]
	check(client.grace_period > 0.0, "the server granted a session")
	var sent := 0
	var started := Time.get_ticks_msec()
	while sent < total:
		# 400 messages a second.
		var due := mini(total, (Time.get_ticks_msec() - started) * 400 / 1000 + 1)
		while sent < due:
			check_eq(client.send_text(str(sent)), OK, "send_text while connected or away")
			sent += 1
		await process_frame
	check(await wait_until(func(): return got.size() >= total and not client.is_away(), [], 60.0), "every echo back")
	client.send_text("end")
	check(await wait_until(func(): return got.size() == total + 1, [], 30.0), "the end answer")
	var expected: Array = []
	for i in total:
		expected.append("echo:%d" % i)
	expected.append("end:%d" % total)
	check_eq(got, expected, "every echo once, in order")
	check_eq(client.id, id, "the same id throughout")
	check_eq(moments.count("away"), moments.count("back"), "each away followed by back")
	check(moments.count("back") >= 1, "the connection was cut at least once (%s)" % [moments])
	check(not moments.any(func(m): return m.begins_with("closed")), "never closed")
	print("SESSION moments ", moments.size(), " backs ", moments.count("back"))
	client.close()
	check(await wait_until(func(): return client.state == SessionClient.State.CLOSED, []), "closed cleanly")
