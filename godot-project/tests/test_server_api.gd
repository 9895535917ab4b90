extends "res://tests/harness.gd"
## WebSocketServer and WebSocketServerPeer without clients: property defaults,
## constants, signals, listen() errors, unknown ids, stop() then listen() again.


func run_tests() -> void:
	var s := WebSocketServer.new()
	check(s is MultiplayerPeer, "WebSocketServer is a MultiplayerPeer")
	check_eq(s.bind_ip, "*", "bind_ip default")
	check_eq(s.handshake_timeout, 3.0, "handshake_timeout default")
	check(s.private_key == null, "private_key default")
	check(s.ssl_certificate == null, "ssl_certificate default")
	check(s.ca_chain == null, "ca_chain default")
	check(s.tls_options == null, "tls_options default")
	check(not s.is_listening(), "not listening before listen()")
	check_eq(s.get_local_port(), 0, "no port before listen()")
	check_eq(s.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "status before listen()")
	check_eq(s.get_unique_id(), 1, "the server's unique id")
	check(s.is_server_relay_supported(), "relay supported")
	for sig in ["client_connected", "client_disconnected", "client_close_request", "data_received",
			"peer_connected", "peer_disconnected"]:
		check(s.has_signal(sig), "signal " + sig)
	for method in ["listen", "stop", "is_listening", "has_peer", "get_peer", "get_peer_address",
			"get_peer_port", "disconnect_peer", "set_buffers", "poll", "get_local_port", "get_peer_ids"]:
		check(s.has_method(method), "method " + method)
	check(WebSocketServer.get_worker_threads() >= 1, "worker threads: %d" % WebSocketServer.get_worker_threads())
	_check_default_args("listen", 2)
	_check_default_args("disconnect_peer", 2)
	_check_default_args("close", 2, "WebSocketServerPeer")
	_check_default_args("send", 1, "WebSocketServerPeer")

	check_eq(s.set_buffers(0, 1, 1, 1), ERR_INVALID_PARAMETER, "set_buffers with 0 KiB")
	check_eq(s.set_buffers(16, 256, 16, 256), OK, "set_buffers before listen")

	s.bind_ip = "127.0.0.1"
	check_eq(s.listen(-1), ERR_INVALID_PARAMETER, "listen(-1)")
	check_eq(s.listen(70000), ERR_INVALID_PARAMETER, "listen(70000)")
	check_eq(s.listen(0), OK, "listen(0)")
	var port := s.get_local_port()
	check(port > 0, "listen(0) picks a port: %d" % port)
	check(s.is_listening(), "listening")
	check_eq(s.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTED, "status while listening")
	check_eq(s.listen(0), ERR_ALREADY_IN_USE, "listen twice")
	check_eq(s.set_buffers(64, 1024, 64, 1024), FAILED, "set_buffers while listening")

	var other := WebSocketServer.new()
	other.bind_ip = "127.0.0.1"
	check_eq(other.listen(port), ERR_CANT_CREATE, "port in use")
	other.bind_ip = "not an address"
	check_eq(other.listen(0), ERR_INVALID_PARAMETER, "bad bind_ip")
	other.bind_ip = "127.0.0.1"
	other.handshake_timeout = -1.0
	check_eq(other.handshake_timeout, 3.0, "a negative handshake_timeout is refused, the value stays")
	other.handshake_timeout = 0.5
	check_eq(other.handshake_timeout, 0.5, "handshake_timeout set")
	check_eq(other.listen(0, PackedStringArray(["bad protocol"])), ERR_INVALID_PARAMETER, "protocol with a space")
	check(not other.is_listening(), "nothing started after errors")

	# Unknown ids: safe values and an error message, never a crash.
	check(not s.has_peer(12345), "has_peer(unknown)")
	check(s.get_peer(12345) == null, "get_peer(unknown)")
	check_eq(s.get_peer_address(12345), "", "get_peer_address(unknown)")
	check_eq(s.get_peer_port(12345), 0, "get_peer_port(unknown)")
	s.disconnect_peer(12345)
	s.disconnect_peer(12345, 4000, "x")
	check_eq(s.get_peer_ids(), PackedInt32Array(), "no peers")
	# Multiplayer calls on a server not in gd_mp_api mode.
	check_eq(s.get_available_packet_count(), 0, "no multiplayer packets")
	check_eq(s.put_packet(PackedByteArray([1])), ERR_UNCONFIGURED, "put_packet without gd_mp_api")

	s.poll()
	s.stop()
	check(not s.is_listening(), "stopped")
	check_eq(s.get_local_port(), 0, "no port after stop()")
	check_eq(s.listen(port), OK, "listen again on the same port right after stop()")
	s.close()
	check(not s.is_listening(), "close() stops too")

	# TLS set up by halves is refused.
	var crypto := Crypto.new()
	var key := crypto.generate_rsa(2048)
	var cert := crypto.generate_self_signed_certificate(key, "CN=localhost")
	s.private_key = key
	check_eq(s.listen(0), ERR_INVALID_PARAMETER, "private_key without ssl_certificate")
	s.private_key = null
	s.ssl_certificate = cert
	check_eq(s.listen(0), ERR_INVALID_PARAMETER, "ssl_certificate without private_key")
	var other_key := crypto.generate_rsa(2048)
	s.private_key = other_key
	check_eq(s.listen(0), ERR_INVALID_PARAMETER, "key that does not match the certificate")
	s.private_key = key
	check_eq(s.listen(0), OK, "matching key and certificate")
	s.stop()

	# WebSocketServerPeer on its own.
	check_eq(WebSocketServerPeer.WRITE_MODE_TEXT, 0, "WRITE_MODE_TEXT")
	check_eq(WebSocketServerPeer.WRITE_MODE_BINARY, 1, "WRITE_MODE_BINARY")
	check_eq(WebSocketServerPeer.STATE_OPEN, 1, "STATE_OPEN")
	check_eq(WebSocketServerPeer.STATE_CLOSED, 3, "STATE_CLOSED")
	var lone := WebSocketServerPeer.new()
	check(lone is PacketPeer, "WebSocketServerPeer is a PacketPeer")
	check_eq(lone.get_ready_state(), WebSocketServerPeer.STATE_CLOSED, "lone peer is closed")
	check_eq(lone.send_text("x"), ERR_UNCONFIGURED, "send on a lone peer")
	check_eq(lone.get_available_packet_count(), 0, "lone peer has no packets")
	check_eq(lone.get_packet(), PackedByteArray(), "get_packet on a lone peer")
	check_eq(lone.get_write_mode(), WebSocketServerPeer.WRITE_MODE_BINARY, "default write mode")
	lone.set_write_mode(5)
	check_eq(lone.get_write_mode(), WebSocketServerPeer.WRITE_MODE_BINARY, "bad write mode ignored")


func _check_default_args(method: String, expected: int, cls := "WebSocketServer") -> void:
	for m in ClassDB.class_get_method_list(cls, true):
		if m["name"] == method:
			check_eq(m["default_args"].size(), expected, "%s.%s has %d default arguments" % [cls, method, expected])
			return
	check(false, "method %s.%s listed" % [cls, method])
