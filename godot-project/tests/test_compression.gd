extends "res://tests/harness.gd"
## Compression (permessage-deflate) in the engine: the properties and their checks, then
## a server with compression on serving Godot's own WebSocketPeer (it offers no
## compression: it works, uncompressed) and a Python `websockets` client (it offers it:
## compressed both ways), one broadcast reaching both.

var server: WebSocketServer


func run_tests() -> void:
	server = WebSocketServer.new()
	check_eq(server.compression_enabled, false, "compression is off by default")
	check_eq(server.compression_threshold, 256, "compression_threshold is 256 by default")
	server.compression_threshold = -1
	check_eq(server.compression_threshold, 256, "a negative compression_threshold is refused")
	server.compression_threshold = 100
	check_eq(server.compression_threshold, 100, "compression_threshold set")
	server.compression_enabled = true
	check_eq(server.compression_enabled, true, "compression_enabled set")
	server.bind_ip = "127.0.0.1"
	record(server)
	check_eq(server.listen(0), OK, "listen")
	var url := "ws://127.0.0.1:%d/" % server.get_local_port()
	var state := JSON.stringify(world(150))

	var c := WebSocketPeer.new()
	check_eq(c.connect_to_url(url), OK, "Godot client connects")
	check(await wait_until(func(): return c.get_ready_state() == WebSocketPeer.STATE_OPEN and count("connected") == 1,
			[server, c]), "Godot client open")
	var godot_id: int = named("connected")[0][1]
	var godot_peer := server.get_peer(godot_id)
	check(not godot_peer.is_compressed(), "Godot's WebSocketPeer offers no compression: uncompressed")
	c.send_text(state)
	check(await wait_until(func(): return godot_peer.get_available_packet_count() == 1, [server, c]), "state from Godot")
	check_eq(godot_peer.get_packet().get_string_from_utf8(), state, "state from Godot intact")

	var pid := start_python("compressed_client.py", [url])
	check(await wait_until(func(): return count("connected") == 2, [server, c], 10.0), "python client connects")
	var py_id: int = named("connected")[1][1]
	var py_peer := server.get_peer(py_id)
	check(py_peer.is_compressed(), "Python websockets offers compression: agreed")
	check(await wait_until(func(): return py_peer.get_available_packet_count() == 1, [server, c]), "python ready")
	check_eq(py_peer.get_packet().get_string_from_utf8(), "ready", "ready")

	check_eq(server.broadcast_text(state), OK, "broadcast to both")
	check(await wait_until(func(): return c.get_available_packet_count() == 1 and py_peer.get_available_packet_count() == 1,
			[server, c]), "both get the broadcast (the python client sends it back)")
	check_eq(c.get_packet().get_string_from_utf8(), state, "Godot client: the broadcast intact")
	check_eq(py_peer.get_packet().get_string_from_utf8(), state, "python client: the broadcast intact, both ways")
	py_peer.send_text("bye")
	check_eq(await wait_process(pid, [server, c]), 0, "python compressed client exit code")
	c.close()
	check(await wait_until(func(): return count("disconnected") == 2, [server, c]), "both gone")
	server.stop()


## A world state as a game sends it: 20 times a second, to every player.
func world(players: int) -> Dictionary:
	var list := []
	for i in players:
		list.append({"id": i, "x": i * 7 % 500, "y": i * 3 % 300, "hp": 100, "name": "player%d" % i})
	return {"tick": 1234, "players": list}
