extends "res://tests/harness.gd"
## Unreliable packets to a congested player (gd_mp_api): a stock WebSocketMultiplayerPeer
## client that stops reading. State updates sent unreliably are dropped for it once its
## queue passes unreliable_drop_threshold, and counted; reliable events all arrive, in
## order, once it reads again.

const STREAM := preload("res://tests/mp/stream.gd")


func run_tests() -> void:
	var ws := WebSocketServer.new()
	ws.bind_ip = "127.0.0.1"
	check_eq(ws.unreliable_drop_threshold, 16384, "unreliable_drop_threshold default")
	ws.set_buffers(64, 1024, 2048, 8192)  # room for every reliable event while frozen
	check_eq(ws.listen(0, PackedStringArray(), true), OK, "listen with gd_mp_api")
	var url := "ws://127.0.0.1:%d/" % ws.get_local_port()
	# Both branches polled by hand, so the client can stop reading.
	multiplayer_poll = false
	var server := multiplayer_branch("Server", STREAM)
	server.mp.multiplayer_peer = ws
	var client := multiplayer_branch("Client", STREAM)
	var peer := WebSocketMultiplayerPeer.new()
	check_eq(peer.create_client(url), OK, "create_client")
	client.mp.multiplayer_peer = peer
	check(await _until(func(): return server.mp.get_peers().size() == 1 and client.mp.get_unique_id() > 1, [server.mp, client.mp]), "the client joins")
	var id: int = client.mp.get_unique_id()

	# The client freezes (polls nothing) while the server sends 1 event and 8 state updates
	# of 16 KiB per frame for 1.5 s.
	var blob := PackedByteArray()
	blob.resize(16384)
	var n := 0
	var deadline := Time.get_ticks_msec() + 1500
	while Time.get_ticks_msec() < deadline:
		server.game.event.rpc_id(id, n)
		for k in 8:
			server.game.state.rpc_id(id, n, blob)
		n += 1
		server.mp.poll()
		await process_frame
	var dropped: int = ws.get_stats().dropped_packets
	check(dropped > 0, "unreliable updates dropped for the frozen client: %d of %d" % [dropped, n * 8])
	check_eq(ws.get_peer(id).get_dropped_packets(), dropped, "counted on the peer too")
	# It reads again: every reliable event arrives, in order.
	check(await _until(func(): return client.game.reliable.size() == n, [server.mp, client.mp], 20.0), "all %d events arrive" % n)
	var in_order: bool = client.game.reliable == range(n)
	check(in_order, "in order")
	check(client.game.unreliable + dropped <= n * 8, "what was dropped never arrived")
	print("unreliable: %d events, %d state updates sent, %d dropped, %d arrived" % [n, n * 8, dropped, client.game.unreliable])
	ws.stop()


func _until(condition: Callable, mps: Array, seconds := 5.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(seconds * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			return false
		for mp in mps:
			mp.poll()
		await process_frame
	return true

