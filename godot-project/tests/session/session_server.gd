extends SceneTree
## A headless server on WebSocketServer with reconnect_grace_period on, for the session
## clients (GDScript, JavaScript, Python): each client sends "0", "1", "2", ... as text;
## the server checks that every number arrives once and in order, and answers each with
## "echo:N"; "end" is answered with "end:COUNT". It prints what happens, one line each:
##   LISTENING port / CONNECTED id / AWAY id away peer_away / BACK id away peer_away groups /
##   DISCONNECTED id clean / END id count / WRONG id expected got
## where away is is_peer_away(id) and peer_away get_peer(id).is_away() in the handler, and
## groups the peer's groups (every client joins "players" when it connects).
## Port: GWS_PORT (0: any). Stops after GWS_SECONDS (default 120).

var server := WebSocketServer.new()
var expected := {}


func _initialize() -> void:
	server.bind_ip = "127.0.0.1"
	server.reconnect_grace_period = 10.0
	server.heartbeat_interval = 1.0
	# A session keeps what it sent until the client acknowledges it, within the outbound
	# buffer: 16,384 packets hold 400 echoes a second through a blackhole's 3 s and a
	# return caught in it (5 s more). A send that does not fit fails, and this echo
	# server would then lose that echo (it checks none), so the test would see it.
	server.set_buffers(64, 1024, 1024, 16384)
	# Compression on: the JavaScript (Chromium) and Python clients agree to it on every
	# connection, returns included; the GDScript client offers none.
	server.compression_enabled = true
	server.compression_threshold = 0
	server.client_connected.connect(_on_connected)
	server.client_away.connect(func(id): print("AWAY ", id, " ", server.is_peer_away(id), " ", server.get_peer(id).is_away()))
	server.client_back.connect(func(id): print("BACK ", id, " ", server.is_peer_away(id), " ", server.get_peer(id).is_away(), " ", ",".join(server.get_peer_groups(id))))
	server.client_disconnected.connect(func(id, clean): print("DISCONNECTED ", id, " ", clean))
	server.data_received.connect(_on_data)
	var err := server.listen(int(OS.get_environment("GWS_PORT")))
	if err != OK:
		printerr("listen failed: ", error_string(err))
		quit(1)
		return
	print("LISTENING ", server.get_local_port())
	var seconds := float(OS.get_environment("GWS_SECONDS")) if OS.has_environment("GWS_SECONDS") else 120.0
	create_timer(seconds).timeout.connect(func(): quit(0))


func _on_connected(id: int, _protocol: String) -> void:
	expected[id] = 0
	server.add_peer_to_group(id, "players")
	print("CONNECTED ", id)


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var text := peer.get_packet().get_string_from_utf8()
		if text == "end":
			print("END ", id, " ", expected[id])
			peer.send(("end:%d" % expected[id]).to_utf8_buffer(), WebSocketServerPeer.WRITE_MODE_TEXT)
			continue
		if text != str(expected[id]):
			print("WRONG ", id, " ", expected[id], " ", text)
		expected[id] = int(text) + 1
		peer.send(("echo:" + text).to_utf8_buffer(), WebSocketServerPeer.WRITE_MODE_TEXT)


func _process(_delta: float) -> bool:
	server.poll()
	return false
