extends "res://tests/harness.gd"
## What a game shows about its players and its server: each peer's round-trip time and
## traffic, get_stats(), the Prometheus metrics path (read with Godot's own HTTPClient),
## and the custom performance monitors (distinct names for two servers, removed when the
## server is freed).

func run_tests() -> void:
	var s := WebSocketServer.new()
	s.bind_ip = "127.0.0.1"
	s.heartbeat_interval = 0.2
	s.metrics_path = "/metrics"
	check_eq(s.metrics_path, "/metrics", "metrics_path set")
	check_eq(s.get_monitor_prefix(), "", "no monitors before listen")
	record(s)
	check_eq(s.listen(0, PackedStringArray(["game"])), OK, "listen")
	var prefix := s.get_monitor_prefix()
	check_eq(prefix, "websocket_server", "monitor prefix")
	var url := "ws://127.0.0.1:%d/" % s.get_local_port()
	var c := WebSocketPeer.new()
	c.supported_protocols = PackedStringArray(["game"])
	c.connect_to_url(url)
	var refused := WebSocketPeer.new()
	refused.connect_to_url(url)  # no subprotocol: refused
	check(await wait_until(func(): return count("connected") == 1 and refused.get_ready_state() == WebSocketPeer.STATE_CLOSED, [s, c, refused]), "one in, one refused")
	var id: int = named("connected")[0][1]
	var peer := s.get_peer(id)
	for i in 5:
		c.send_text("hello %d" % i)
	check(await wait_until(func(): return peer.get_available_packet_count() == 5, [s, c]), "five messages")
	for i in 3:
		peer.send_text("reply %d" % i)
	check(await wait_until(func(): return c.get_available_packet_count() == 3, [s, c]), "three replies")
	check_eq(peer.get_packets_received(), 5, "packets received")
	check_eq(peer.get_bytes_received(), 35, "bytes received")
	check_eq(peer.get_packets_sent(), 3, "packets sent")
	check_eq(peer.get_bytes_sent(), 21, "bytes sent")
	check(peer.get_connected_time() > 0.0, "connected time")
	check_eq(peer.get_dropped_packets(), 0, "nothing dropped")
	# Godot's client answers the server's pings: the player's ping.
	check(await wait_until(func(): return peer.get_round_trip_time() >= 0.0, [s, c], 3.0), "round-trip time measured")
	var rtt := peer.get_smoothed_round_trip_time()
	check(rtt >= 0.0 and rtt < 100.0, "smoothed round-trip time %.3f ms" % rtt)

	var stats := s.get_stats()
	check_eq(stats.peers, 1, "stats peers")
	check_eq(stats.accepted, 1, "stats accepted")
	check_eq(stats.refused.subprotocol, 1, "stats refused by subprotocol")
	check_eq(stats.messages_in, 5, "stats messages_in")
	check_eq(stats.messages_out, 3, "stats messages_out")
	check_eq(stats.bytes_in, 35, "stats bytes_in")
	check(stats.poll_usec >= 0.0 and stats.poll_usec_average > 0.0, "poll time measured: %.1f us" % stats.poll_usec_average)
	# The five messages are still unread; the three replies reached the client.
	check_eq(stats.inbound_buffered_bytes, 35, "stats inbound_buffered_bytes: the unread messages")
	check_eq(stats.outbound_buffered_bytes, 0, "stats outbound_buffered_bytes: everything sent")
	for key in ["handshakes", "bytes_out", "dropped_packets"]:
		check(stats.has(key), "stats has " + key)

	# Godot's custom monitors.
	check_eq(Performance.get_custom_monitor(prefix + "/peers"), 1, "monitor peers")
	for name in ["handshakes", "bytes_in_per_second", "bytes_out_per_second", "messages_in_per_second", "messages_out_per_second", "poll_usec"]:
		check(Performance.has_custom_monitor(prefix + "/" + name), "monitor " + name)
	var s2 := WebSocketServer.new()
	s2.bind_ip = "127.0.0.1"
	check_eq(s2.listen(0), OK, "a second server")
	check_eq(s2.get_monitor_prefix(), "websocket_server_2", "a distinct prefix")
	check_eq(Performance.get_custom_monitor("websocket_server_2/peers"), 0, "its own figures")
	s2 = null
	check(not Performance.has_custom_monitor("websocket_server_2/peers"), "monitors removed when the server is freed")

	# The metrics path, read as Prometheus would (here with Godot's HTTPClient).
	var body := await _http_get(s, "/metrics")
	check(body.contains("# TYPE websocket_server_peers gauge"), "metrics: a gauge with its type")
	check(body.contains("\nwebsocket_server_peers 1\n"), "metrics: peers 1")
	check(body.contains("websocket_server_connections_refused_total{reason=\"subprotocol\"} 1"), "metrics: refused by reason")
	check(body.contains("websocket_server_received_messages_total 5"), "metrics: messages in")
	s.stop()


func _http_get(s: WebSocketServer, path: String) -> String:
	var http := HTTPClient.new()
	http.connect_to_host("127.0.0.1", s.get_local_port())
	var ok := await wait_until(func(): return http.get_status() == HTTPClient.STATUS_CONNECTED, [s, http])
	check(ok, "HTTP connects")
	http.request(HTTPClient.METHOD_GET, path, [])
	check(await wait_until(func(): return http.get_status() == HTTPClient.STATUS_BODY or http.get_status() == HTTPClient.STATUS_CONNECTED, [s, http]), "HTTP answer")
	check_eq(http.get_response_code(), 200, "HTTP 200")
	var body := PackedByteArray()
	var deadline := Time.get_ticks_msec() + 5000
	while http.get_status() == HTTPClient.STATUS_BODY and Time.get_ticks_msec() < deadline:
		s.poll()
		http.poll()
		body.append_array(http.read_response_body_chunk())
		await process_frame
	return body.get_string_from_utf8()
