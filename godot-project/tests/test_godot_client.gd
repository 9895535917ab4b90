extends "res://tests/harness.gd"
## WebSocketServer against Godot 4's own WebSocketPeer client in the same process:
## subprotocols, signals and their arguments, text and binary, put_var/get_var, clean
## close from each side, handshake timeout, stop() then listen() again.

var server: WebSocketServer


func run_tests() -> void:
	server = WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	record(server)
	check_eq(server.listen(0, PackedStringArray(["chat", "json"])), OK, "listen with protocols")
	var port := server.get_local_port()
	var url := "ws://127.0.0.1:%d/room?x=1" % port

	# The first protocol of the client's list that the server has.
	var c := WebSocketPeer.new()
	c.supported_protocols = PackedStringArray(["xml", "json", "chat"])
	check_eq(c.connect_to_url(url), OK, "connect_to_url")
	check(await wait_until(func(): return c.get_ready_state() == WebSocketPeer.STATE_OPEN and count("connected") == 1,
			[server, c]), "client connects")
	check_eq(c.get_selected_protocol(), "json", "client sees the selected protocol")
	var id: int = named("connected")[0][1]
	check(id >= 2, "peer id >= 2")
	check_eq(named("connected")[0], ["connected", id, "json"], "client_connected(id, protocol)")
	check_eq(named("peer_connected"), [["peer_connected", id]], "peer_connected(id)")
	var peer := server.get_peer(id)
	check(peer != null, "get_peer(id)")
	check(server.get_peer(id) == peer, "the same object for the same id")
	check(server.has_peer(id), "has_peer(id)")
	check_eq(server.get_peer_ids(), PackedInt32Array([id]), "get_peer_ids()")
	check_eq(server.get_peer_address(id), "127.0.0.1", "get_peer_address")
	check(server.get_peer_port(id) > 0, "get_peer_port")
	check_eq(peer.get_connected_host(), "127.0.0.1", "peer.get_connected_host")
	check_eq(peer.get_connected_port(), server.get_peer_port(id), "peer.get_connected_port")
	check_eq(peer.get_id(), id, "peer.get_id")
	check_eq(peer.get_selected_protocol(), "json", "peer.get_selected_protocol")
	check_eq(peer.get_request_path(), "/room?x=1", "peer.get_request_path")
	check_eq(peer.get_requested_url(), "ws://127.0.0.1:%d/room?x=1" % port, "peer.get_requested_url")
	check(peer.get_request_headers().has("sec-websocket-key"), "request headers kept")
	check_eq(peer.get_ready_state(), WebSocketServerPeer.STATE_OPEN, "peer open")
	check(peer.is_connected_to_host(), "is_connected_to_host")
	check_eq(peer.get_write_mode(), WebSocketServerPeer.WRITE_MODE_BINARY, "default write mode")
	peer.set_no_delay(false)
	peer.set_no_delay(true)

	# Client to server: text and binary.
	c.send_text("héllo")
	c.send(PackedByteArray([0, 1, 255]))
	check(await wait_until(func(): return count("data") == 2, [server, c]), "data_received twice")
	check_eq(named("data"), [["data", id], ["data", id]], "data_received(id)")
	check_eq(peer.get_available_packet_count(), 2, "two packets")
	var p1 := peer.get_packet()
	check(peer.was_string_packet(), "text packet")
	check_eq(p1.get_string_from_utf8(), "héllo", "text content")
	var p2 := peer.get_packet()
	check(not peer.was_string_packet(), "binary packet")
	check_eq(p2, PackedByteArray([0, 1, 255]), "binary content")
	check_eq(peer.get_packet_error(), OK, "get_packet_error")

	# Server to client: put_packet honours the write mode; send and send_text.
	peer.set_write_mode(WebSocketServerPeer.WRITE_MODE_TEXT)
	check_eq(peer.put_packet("text mode".to_utf8_buffer()), OK, "put_packet in text mode")
	peer.set_write_mode(WebSocketServerPeer.WRITE_MODE_BINARY)
	check_eq(peer.put_packet(PackedByteArray([9, 8])), OK, "put_packet in binary mode")
	check_eq(peer.send_text("via send_text"), OK, "send_text")
	check_eq(peer.send(PackedByteArray([7])), OK, "send")
	check_eq(peer.send("as text".to_utf8_buffer(), WebSocketServerPeer.WRITE_MODE_TEXT), OK, "send as text")
	check(await wait_until(func(): return c.get_available_packet_count() >= 5, [server, c]), "client gets 5")
	var expect := [["text mode", true], [PackedByteArray([9, 8]), false], ["via send_text", true],
			[PackedByteArray([7]), false], ["as text", true]]
	for e in expect:
		var got := c.get_packet()
		check_eq(c.was_string_packet(), e[1], "was_string_packet for %s" % str(e[0]))
		if e[1]:
			check_eq(got.get_string_from_utf8(), e[0], "text received")
		else:
			check_eq(got, e[0], "binary received")

	# put_var / get_var both ways.
	var value := {"a": 1, "b": [1.5, "x"], "v": Vector2(1, 2)}
	check_eq(peer.put_var(value), OK, "put_var")
	check(await wait_until(func(): return c.get_available_packet_count() >= 1, [server, c]), "var arrives")
	check_eq(c.get_var(), value, "client get_var")
	c.put_var([1, "two", 3.0])
	check(await wait_until(func(): return peer.get_available_packet_count() >= 1, [server, c]), "var from client")
	check_eq(peer.get_var(), [1, "two", 3.0], "server get_var")

	# Clean close started by the client, with code and reason.
	c.close(4000, "bye")
	check(await wait_until(func(): return count("disconnected") == 1 and c.get_ready_state() == WebSocketPeer.STATE_CLOSED,
			[server, c]), "client close completes")
	check_eq(named("close_request"), [["close_request", id, 4000, "bye"]], "client_close_request(id, code, reason)")
	check_eq(named("disconnected"), [["disconnected", id, true]], "client_disconnected(id, true)")
	check_eq(named("peer_disconnected"), [["peer_disconnected", id]], "peer_disconnected(id)")
	check(not server.has_peer(id), "gone after disconnect")
	check_eq(peer.get_ready_state(), WebSocketServerPeer.STATE_CLOSED, "peer closed")
	check_eq(peer.get_close_code(), 4000, "peer.get_close_code")
	check_eq(peer.get_close_reason(), "bye", "peer.get_close_reason")
	check_eq(c.get_close_code(), 4000, "the client sees its code echoed")
	check(not peer.is_connected_to_host(), "not connected after close")
	check(peer.send_text("late") != OK, "send after close fails")

	# Messages sent right before a close stay readable after the disconnect.
	events.clear()
	var c2 := _client(url)
	check(await wait_until(func(): return count("connected") == 1 and c2.get_ready_state() == WebSocketPeer.STATE_OPEN,
			[server, c2]), "second client")
	var id2: int = named("connected")[0][1]
	var peer2 := server.get_peer(id2)
	check(id2 >= 2 and id2 != id, "ids are not reused")
	for i in 5:
		c2.send_text("last %d" % i)
	c2.close(1000, "")
	check(await wait_until(func(): return count("disconnected") == 1, [server, c2]), "second client gone")
	check_eq(peer2.get_available_packet_count(), 5, "packets still readable after the disconnect")
	for i in 5:
		check_eq(peer2.get_packet().get_string_from_utf8(), "last %d" % i, "packet %d in order" % i)

	# Close started by the server: disconnect_peer(id, code, reason).
	events.clear()
	var c3 := _client(url)
	check(await wait_until(func(): return count("connected") == 1 and c3.get_ready_state() == WebSocketPeer.STATE_OPEN,
			[server, c3]), "third client")
	var id3: int = named("connected")[0][1]
	server.get_peer(id3).send_text("before the close")
	server.disconnect_peer(id3, 4001, "kicked")
	check(await wait_until(func(): return c3.get_ready_state() == WebSocketPeer.STATE_CLOSED and count("disconnected") == 1,
			[server, c3]), "server-side close completes")
	check_eq(c3.get_close_code(), 4001, "client sees code 4001")
	check_eq(c3.get_close_reason(), "kicked", "client sees the reason")
	check_eq(named("disconnected"), [["disconnected", id3, true]], "clean close from the server side")

	# Messages queued before disconnect_peer() go out before the close frame. Godot's own
	# WebSocketPeer drops a message that arrives together with the close frame (a bug of
	# that client), so a Python `websockets` client witnesses what was sent.
	events.clear()
	var witness := start_python("close_witness.py", [url, "chat", 4001, "kicked", "one", "two"])
	check(await wait_until(func(): return count("connected") == 1, [server], 10.0), "python witness connects")
	if count("connected") == 1:
		var wid: int = named("connected")[0][1]
		server.get_peer(wid).send_text("one")
		server.get_peer(wid).send_text("two")
		server.disconnect_peer(wid, 4001, "kicked")
	check_eq(await wait_process(witness, [server]), 0, "queued messages arrive before the close frame (Python witness)")

	# WebSocketServerPeer.close(code, reason).
	events.clear()
	var c4 := _client(url)
	check(await wait_until(func(): return count("connected") == 1 and c4.get_ready_state() == WebSocketPeer.STATE_OPEN,
			[server, c4]), "fourth client")
	var peer4 := server.get_peer(named("connected")[0][1])
	peer4.close(4002, "peer close")
	check_eq(peer4.get_ready_state(), WebSocketServerPeer.STATE_CLOSING, "closing after close()")
	check(await wait_until(func(): return c4.get_ready_state() == WebSocketPeer.STATE_CLOSED and count("disconnected") == 1,
			[server, c4]), "peer.close completes")
	check_eq(c4.get_close_code(), 4002, "client sees 4002")
	peer4.close(999, "bad code after close")  # an error message, no crash

	# A client offering no protocol to a server that needs one is refused.
	events.clear()
	var c5 := WebSocketPeer.new()
	c5.connect_to_url(url)
	await poll_for([server, c5], 1.0)
	check(c5.get_ready_state() != WebSocketPeer.STATE_OPEN, "client without protocol refused")
	check_eq(count("connected"), 0, "refused client never becomes a peer")

	# stop() closes clients with 1001 and frees the port; listen() again works.
	events.clear()
	var c6 := _client(url)
	check(await wait_until(func(): return count("connected") == 1 and c6.get_ready_state() == WebSocketPeer.STATE_OPEN,
			[server, c6]), "sixth client")
	server.stop()
	check(await wait_until(func(): return c6.get_ready_state() == WebSocketPeer.STATE_CLOSED, [c6]), "stop() closes clients")
	check_eq(c6.get_close_code(), 1001, "closed with 1001 going away")
	check_eq(server.listen(port, PackedStringArray(["chat"])), OK, "listen again on the same port")
	var c7 := _client("ws://127.0.0.1:%d/" % port)
	check(await wait_until(func(): return c7.get_ready_state() == WebSocketPeer.STATE_OPEN, [server, c7]), "new client after restart")
	server.stop()

	await _handshake_timeout()


func _client(url: String) -> WebSocketPeer:
	var c := WebSocketPeer.new()
	c.supported_protocols = PackedStringArray(["chat"])
	check_eq(c.connect_to_url(url), OK, "connect_to_url " + url)
	return c


## A TCP client that sends nothing, and one that sends half a request, are dropped after
## handshake_timeout and never become peers; a good client meanwhile works.
func _handshake_timeout() -> void:
	events.clear()
	var s := WebSocketServer.new()
	s.bind_ip = "127.0.0.1"
	s.handshake_timeout = 0.5
	record(s)
	check_eq(s.listen(0), OK, "listen with handshake_timeout 0.5")
	var silent := StreamPeerTCP.new()
	var half := StreamPeerTCP.new()
	silent.connect_to_host("127.0.0.1", s.get_local_port())
	half.connect_to_host("127.0.0.1", s.get_local_port())
	check(await wait_until(func(): return half.get_status() == StreamPeerTCP.STATUS_CONNECTED, [silent, half]), "tcp connects")
	half.put_data("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".to_utf8_buffer())
	var good := WebSocketPeer.new()
	good.connect_to_url("ws://127.0.0.1:%d/" % s.get_local_port())
	var started := Time.get_ticks_msec()
	check(await wait_until(func(): return silent.get_status() != StreamPeerTCP.STATUS_CONNECTED and half.get_status() != StreamPeerTCP.STATUS_CONNECTED, [s, good, silent, half], 5.0),
			"stalled clients are dropped")
	check(Time.get_ticks_msec() - started >= 300, "not before the timeout")
	check_eq(good.get_ready_state(), WebSocketPeer.STATE_OPEN, "the good client is open")
	check_eq(count("connected"), 1, "only the good client became a peer")
	s.stop()
