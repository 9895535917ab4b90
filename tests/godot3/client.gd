extends Node
# Godot 3's WebSocketClient against the server: offers the "chat" protocol, sends a
# text and a binary message, expects them echoed with the same kind, then expects the
# server to close with 4000 "bye". Exit code 0 on success (OS.exit_code).

var client = WebSocketClient.new()
var got = []
var close_code = -1
var close_reason = ""
var done = false


func _ready():
	client.connect("connection_established", self, "_on_open")
	client.connect("connection_error", self, "_on_error")
	client.connect("connection_closed", self, "_on_closed")
	client.connect("server_close_request", self, "_on_close_request")
	client.connect("data_received", self, "_on_data")
	var err = client.connect_to_url(OS.get_environment("WS_URL"), PoolStringArray(["chat"]))
	if err != OK:
		_finish(1, "connect_to_url: %d" % err)
	get_tree().create_timer(15.0).connect("timeout", self, "_finish", [2, "timed out"])


func _process(_delta):
	client.poll()


func _on_open(protocol):
	print("godot3 client: open, protocol '%s'" % protocol)
	if protocol != "chat":
		_finish(1, "expected protocol chat, got '%s'" % protocol)
		return
	var peer = client.get_peer(1)
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
	peer.put_packet("hello from godot 3".to_utf8())
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_BINARY)
	peer.put_packet(PoolByteArray([0, 1, 255]))


func _on_data():
	var peer = client.get_peer(1)
	var packet = peer.get_packet()
	got.append([packet, peer.was_string_packet()])


func _on_close_request(code, reason):
	close_code = code
	close_reason = reason


func _on_error():
	_finish(1, "connection error")


func _on_closed(was_clean):
	if got.size() != 2:
		_finish(1, "expected 2 echoes, got %d" % got.size())
	elif got[0][0].get_string_from_utf8() != "hello from godot 3" or not got[0][1]:
		_finish(1, "text echo wrong")
	elif got[1][0] != PoolByteArray([0, 1, 255]) or got[1][1]:
		_finish(1, "binary echo wrong")
	elif close_code != 4000 or close_reason != "bye":
		_finish(1, "close %d '%s'" % [close_code, close_reason])
	elif not was_clean:
		_finish(1, "unclean close")
	else:
		_finish(0, "ok")


func _finish(code, why):
	if done:
		return
	done = true
	print("godot3 client: ", why)
	OS.exit_code = code
	get_tree().quit()
