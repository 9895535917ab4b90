extends "res://tests/harness.gd"
## SceneMultiplayer's own authentication (auth_callback, send_auth, complete_auth) over
## WebSocketServer in gd_mp_api mode with stock WebSocketMultiplayerPeer clients: a client
## with the wrong secret is rejected, one with the right secret joins and calls RPCs.

const GAME := preload("res://tests/mp/game.gd")
const SECRET := "open sesame"

var server_mp: SceneMultiplayer
var rejected: Array = []


func run_tests() -> void:
	var ws := WebSocketServer.new()
	ws.bind_ip = "127.0.0.1"
	check_eq(ws.listen(0, PackedStringArray(), true), OK, "listen with gd_mp_api")
	var url := "ws://127.0.0.1:%d/" % ws.get_local_port()
	var server := multiplayer_branch("Server", GAME)
	server_mp = server.mp
	server_mp.auth_callback = _server_auth
	server_mp.auth_timeout = 5.0
	server_mp.multiplayer_peer = ws

	var good := _client("Good", url, SECRET)
	var bad := _client("Bad", url, "guess")
	check(await wait_until(func(): return server_mp.get_peers().size() == 1 and rejected.size() == 1, [], 10.0),
			"one client authenticated, one rejected")
	var good_id: int = good.mp.get_unique_id()
	check_eq(server_mp.get_peers(), PackedInt32Array([good_id]), "the server admitted the good client only")
	check(await wait_until(func(): return bad.mp.multiplayer_peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED, [], 10.0),
			"the bad client was disconnected")
	check(await wait_until(func(): return not ws.has_peer(rejected[0]), [], 5.0), "the rejected peer is gone from the server")

	good.game.ping.rpc_id(1, "authenticated")
	check(await wait_until(func(): return good.game.received.has([1, "pong authenticated"]), [], 10.0), "RPC round trip after auth")
	check(server.game.received.has([good_id, "authenticated"]), "the server got the RPC")
	ws.stop()


func _server_auth(id: int, data: PackedByteArray) -> void:
	if data.get_string_from_utf8() == SECRET:
		server_mp.complete_auth(id)
	else:
		rejected.append(id)
		server_mp.disconnect_peer(id)


func _client(branch_name: String, url: String, secret: String) -> Dictionary:
	var b := multiplayer_branch(branch_name, GAME)
	var mp: SceneMultiplayer = b.mp
	# The client answers the server's authentication with its secret, and accepts the server.
	mp.auth_callback = func(_id, _data): pass
	mp.peer_authenticating.connect(func(id):
		mp.send_auth(id, secret.to_utf8_buffer())
		mp.complete_auth(id))
	var peer := WebSocketMultiplayerPeer.new()
	check_eq(peer.create_client(url), OK, "create_client " + branch_name)
	mp.multiplayer_peer = peer
	return b
