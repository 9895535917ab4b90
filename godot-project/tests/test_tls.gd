extends "res://tests/harness.gd"
## wss:// with keys made by Godot's Crypto: a Godot 4 WebSocketPeer client with
## TLSOptions.client(cert), TLSOptions.server(key, cert) on the server, gd_mp_api over
## wss with a WebSocketMultiplayerPeer client, and certificate renewal while listening.

const GAME := preload("res://tests/mp/game.gd")


func run_tests() -> void:
	var crypto := Crypto.new()
	var key := crypto.generate_rsa(2048)
	var cert := crypto.generate_self_signed_certificate(key, "CN=localhost,O=websocket_server tests,C=IT")

	var server := WebSocketServer.new()
	record(server)
	server.private_key = key
	server.ssl_certificate = cert
	check_eq(server.listen(0), OK, "listen with private_key and ssl_certificate")
	var port := server.get_local_port()
	var c := WebSocketPeer.new()
	check_eq(c.connect_to_url("wss://localhost:%d/secure" % port, TLSOptions.client(cert)), OK, "connect wss")
	check(await wait_until(func(): return c.get_ready_state() == WebSocketPeer.STATE_OPEN and count("connected") == 1,
			[server, c], 10.0), "wss client opens")
	var id: int = named("connected")[0][1] if count("connected") > 0 else 0
	var peer := server.get_peer(id)
	if peer != null:
		check_eq(peer.get_requested_url(), "wss://localhost:%d/secure" % port, "requested url is wss")
		c.send_text("secret")
		c.send(PackedByteArray([1, 2, 3]))
		check(await wait_until(func(): return peer.get_available_packet_count() == 2, [server, c]), "wss data arrives")
		check_eq(peer.get_packet().get_string_from_utf8(), "secret", "text over wss")
		check_eq(peer.get_packet(), PackedByteArray([1, 2, 3]), "binary over wss")
		peer.send_text("back")
		check(await wait_until(func(): return c.get_available_packet_count() == 1, [server, c]), "reply over wss")
		check_eq(c.get_packet().get_string_from_utf8(), "back", "reply content")

	# Renewal: a new key and certificate apply to new clients; the old client stays.
	var key2 := crypto.generate_rsa(2048)
	var cert2 := crypto.generate_self_signed_certificate(key2, "CN=localhost,O=renewed,C=IT")
	server.private_key = key2
	server.ssl_certificate = cert2
	var fresh := WebSocketPeer.new()
	fresh.connect_to_url("wss://localhost:%d/" % port, TLSOptions.client(cert2))
	var stale := WebSocketPeer.new()
	stale.connect_to_url("wss://localhost:%d/" % port, TLSOptions.client(cert))
	check(await wait_until(func(): return fresh.get_ready_state() == WebSocketPeer.STATE_OPEN and stale.get_ready_state() == WebSocketPeer.STATE_CLOSED, [server, c, fresh, stale], 10.0),
			"new certificate served, old one no longer")
	check_eq(c.get_ready_state(), WebSocketPeer.STATE_OPEN, "the connected client was not dropped")
	if peer != null:
		peer.send_text("after renewal")
		check(await wait_until(func(): return c.get_available_packet_count() == 1, [server, c]), "old client still served")
	server.stop()

	# TLSOptions.server(key, cert) instead of the two properties.
	var s2 := WebSocketServer.new()
	s2.tls_options = TLSOptions.server(key, cert)
	check_eq(s2.listen(0), OK, "listen with tls_options")
	var c2 := WebSocketPeer.new()
	c2.connect_to_url("wss://localhost:%d/" % s2.get_local_port(), TLSOptions.client(cert))
	check(await wait_until(func(): return c2.get_ready_state() == WebSocketPeer.STATE_OPEN, [s2, c2], 10.0),
			"wss with TLSOptions.server")
	s2.tls_options = TLSOptions.client(cert)  # a client TLSOptions: reported, nothing changes
	s2.stop()
	var s3 := WebSocketServer.new()
	s3.tls_options = TLSOptions.client(cert)
	check_eq(s3.listen(0), ERR_INVALID_PARAMETER, "client TLSOptions refused")

	# gd_mp_api over wss with a stock WebSocketMultiplayerPeer client.
	var ws := WebSocketServer.new()
	ws.private_key = key
	ws.ssl_certificate = cert
	check_eq(ws.listen(0, PackedStringArray(), true), OK, "multiplayer over wss")
	var server_game := _branch("TlsServer")
	server_game.multiplayer.multiplayer_peer = ws
	var client_game := _branch("TlsClient")
	var mpc := WebSocketMultiplayerPeer.new()
	check_eq(mpc.create_client("wss://localhost:%d" % ws.get_local_port(), TLSOptions.client(cert)), OK, "create_client wss")
	client_game.multiplayer.multiplayer_peer = mpc
	check(await wait_until(func(): return mpc.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED and client_game.multiplayer.get_unique_id() > 1, [], 10.0), "multiplayer client joins over wss")
	client_game.hello.rpc_id(1, "secure rpc")
	check(await wait_until(func(): return not server_game.received.is_empty(), [], 10.0), "RPC over wss")
	if not server_game.received.is_empty():
		check_eq(server_game.received[0][1], "secure rpc", "RPC content")
	ws.stop()


## A node /root/<name> with its own SceneMultiplayer and a Game child; returns the Game.
func _branch(branch_name: String) -> Node:
	var node := Node.new()
	node.name = branch_name
	root.add_child(node)
	set_multiplayer(SceneMultiplayer.new(), node.get_path())
	var game: Node = GAME.new()
	game.name = "Game"
	node.add_child(game)
	return game
