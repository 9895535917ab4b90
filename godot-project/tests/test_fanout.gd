extends "res://tests/harness.gd"
## Broadcast and groups in the engine, with Python `websockets` clients: membership and
## errors, exclude lists, text and binary, leaving groups on disconnect, and a client whose
## buffer is full reported by broadcast_missed while the others get every message.

var server: WebSocketServer
var missed: Array = []


func run_tests() -> void:
	server = WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	record(server)
	check_eq(server.broadcast_text("not listening"), ERR_UNCONFIGURED, "broadcast before listen")
	check_eq(server.listen(0), OK, "listen")
	var url := "ws://127.0.0.1:%d/" % server.get_local_port()
	var files := []
	var pids := []
	for i in 3:
		files.append(OS.get_user_data_dir().path_join("group_%d.txt" % i))
		pids.append(start_python("group_listener.py", [url, files[i]]))
		check(await wait_until(func(): return count("connected") == i + 1, [server], 10.0), "listener %d connects" % i)
	var ids: Array = named("connected").map(func(e): return e[1])
	check_eq(server.add_peer_to_group(ids[0], "red"), OK, "add 0 to red")
	check_eq(server.add_peer_to_group(ids[1], "red"), OK, "add 1 to red")
	check_eq(server.add_peer_to_group(ids[2], "blue"), OK, "add 2 to blue")
	check_eq(server.add_peer_to_group(ids[0], "blue"), OK, "add 0 to blue")
	check_eq(server.add_peer_to_group(424242, "red"), ERR_DOES_NOT_EXIST, "an unknown id")
	check_eq(server.get_peer_groups(ids[0]), PackedStringArray(["blue", "red"]), "get_peer_groups")
	var red := PackedInt32Array([ids[0], ids[1]])
	red.sort()
	check_eq(server.get_group_peers("red"), red, "get_group_peers")
	check_eq(server.remove_peer_from_group(ids[2], "red"), ERR_INVALID_PARAMETER, "not in that group")

	check_eq(server.send_text_to_group("red", "to red"), OK, "send_text_to_group")
	check_eq(server.send_to_group("blue", "to blue".to_utf8_buffer(), WebSocketServerPeer.WRITE_MODE_TEXT, PackedInt32Array([ids[0]])), OK, "send_to_group with exclude")
	check_eq(server.broadcast_text("to all but 1", PackedInt32Array([ids[1]])), OK, "broadcast_text with exclude")
	check_eq(server.broadcast(PackedByteArray([1, 2, 255])), OK, "broadcast binary")
	check_eq(server.broadcast("\u00e9".to_utf8_buffer().slice(0, 1), WebSocketServerPeer.WRITE_MODE_TEXT), ERR_INVALID_PARAMETER, "text that is not UTF-8")
	await poll_for([server], 0.5)
	server.stop()
	for pid in pids:
		check_eq(await wait_process(pid, [], 10.0), 0, "listener exits")
	var got := []
	for f in files:
		got.append(FileAccess.get_file_as_string(f).strip_edges().split("\n"))
	check_eq(got[0], PackedStringArray(["to red", "to all but 1", "0102ff"]), "client 0 (red, blue, excluded from the blue send)")
	check_eq(got[1], PackedStringArray(["to red", "0102ff"]), "client 1 (red, excluded from the broadcast)")
	check_eq(got[2], PackedStringArray(["to blue", "to all but 1", "0102ff"]), "client 2 (blue)")

	await _leaving_and_full_peer()


func _leaving_and_full_peer() -> void:
	server = WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.set_buffers(64, 1024, 16, 1024)
	events.clear()
	record(server)
	server.broadcast_missed.connect(func(peer_ids, group): missed.append([peer_ids, group]))
	check_eq(server.listen(0), OK, "listen again")
	var url := "ws://127.0.0.1:%d/" % server.get_local_port()
	var file := OS.get_user_data_dir().path_join("group_full.txt")
	var pid := start_python("group_listener.py", [url, file])
	check(await wait_until(func(): return count("connected") == 1, [server], 10.0), "listener connects")
	var deaf := await raw_upgraded(server.get_local_port())
	check(await wait_until(func(): return count("connected") == 2, [server]), "raw client upgraded")
	var good_id: int = named("connected")[0][1]
	var deaf_id: int = named("connected")[1][1]
	server.add_peer_to_group(good_id, "room")
	server.add_peer_to_group(deaf_id, "room")
	var chunk := "x".repeat(1000)
	var sent := 0
	var deadline := Time.get_ticks_msec() + 60000
	while missed.is_empty() and Time.get_ticks_msec() < deadline:
		# Paced by the reading client, so that only the deaf one falls behind: at most 12 of
		# its messages unwritten (12 KiB; the outbound buffer is 16 KiB).
		if server.get_peer(good_id).get_packets_sent() + 4 >= sent:
			for i in 8:
				server.send_text_to_group("room", chunk)
				sent += 1
		server.poll()
		await process_frame
	check(not missed.is_empty(), "broadcast_missed after %d sends" % sent)
	if not missed.is_empty():
		check_eq(missed[0], [PackedInt32Array([deaf_id]), "room"], "only the client that does not read, with its group")
	# The listener leaves: it leaves its groups.
	server.send_text_to_group("room", "last")
	await poll_for([server], 0.5)
	OS.kill(pid)
	check(await wait_until(func(): return count("disconnected") >= 1, [server], 10.0), "the listener is gone")
	check_eq(server.get_group_peers("room"), PackedInt32Array([deaf_id]), "it left its groups")
	var lines := FileAccess.get_file_as_string(file).strip_edges().split("\n")
	check_eq(lines.size(), sent + 1, "the reading client got every message (%d)" % sent)
	check_eq(lines[-1], "last", "the last one last")
	server.stop()
