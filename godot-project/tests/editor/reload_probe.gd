@tool
extends Node
## Run as an autoload by the editor (`godot --headless --editor`, tests/it/editor.rs): hot
## reload of the addon with a listening server and a connected client.
## 1. A WebSocketServer listens (port from RELOAD_PORT) and echoes; a Godot client connects.
## 2. The library is replaced by a fresh build (RELOAD_LIBRARY, copied over the addon's
##    library as a rebuild does) and reloaded with GDExtensionManager.reload_extension().
## 3. What a user relies on afterwards: the same server object answers, the old client was
##    closed with 1001, the documented pattern (listen() again in
##    GDExtensionManager.extension_loaded) has the server back on its port, a new client echoes.
## Prints "RELOAD <what>: <value>" lines, then "RELOAD done" and quits the editor.

const EXTENSION := "res://addons/websocket_server/websocket_server.gdextension"

var server: WebSocketServer
var port := 0
var started := false
var listen_after_reload := -1


func _process(_delta: float) -> void:
	if not Engine.is_editor_hint() or started:
		return
	started = true
	_run()


func _run() -> void:
	port = int(OS.get_environment("RELOAD_PORT"))
	server = WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.data_received.connect(_echo)
	print("RELOAD listen before: ", server.listen(port))
	var before := await _round_trip("before")
	print("RELOAD echo before: ", before[0])
	var client: WebSocketPeer = before[1]

	var library := ProjectSettings.globalize_path("res://addons/websocket_server/bin/libgodot_websocket_server.so")
	var fresh := OS.get_environment("RELOAD_LIBRARY")
	DirAccess.remove_absolute(library)  # a new file, as a linker writes it
	print("RELOAD library replaced: ", DirAccess.copy_absolute(fresh, library))
	# The pattern the class documentation gives: listen again once the library is back
	# (connect a method, and disconnect it before the editor quits).
	GDExtensionManager.extension_loaded.connect(_on_loaded)
	print("RELOAD reload_extension: ", GDExtensionManager.reload_extension(EXTENSION))
	await get_tree().process_frame
	print("RELOAD same object usable: ", is_instance_valid(server) and server is WebSocketServer)
	print("RELOAD listen in extension_loaded: ", listen_after_reload)
	print("RELOAD listening after reload: ", server.is_listening())
	var deadline := Time.get_ticks_msec() + 5000
	while client.get_ready_state() != WebSocketPeer.STATE_CLOSED and Time.get_ticks_msec() < deadline:
		client.poll()
		server.poll()
		await get_tree().process_frame
	print("RELOAD old client closed: ", client.get_ready_state() == WebSocketPeer.STATE_CLOSED, " code ", client.get_close_code())
	var after := await _round_trip("after")
	print("RELOAD echo after: ", after[0])
	server.stop()
	GDExtensionManager.extension_loaded.disconnect(_on_loaded)
	print("RELOAD done")
	get_tree().quit()


## Connects a Godot client, sends `text`, waits for the echo; returns [echoed ok, client].
func _round_trip(text: String) -> Array:
	var client := WebSocketPeer.new()
	client.connect_to_url("ws://127.0.0.1:%d/" % port)
	var sent := false
	var deadline := Time.get_ticks_msec() + 5000
	while Time.get_ticks_msec() < deadline:
		server.poll()
		client.poll()
		if client.get_ready_state() == WebSocketPeer.STATE_OPEN and not sent:
			client.send_text(text)
			sent = true
		if client.get_available_packet_count() > 0:
			return [client.get_packet().get_string_from_utf8() == text, client]
		await get_tree().process_frame
	return [false, client]


func _echo(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		peer.send(peer.get_packet(), WebSocketServerPeer.WRITE_MODE_TEXT)


func _on_loaded(extension: GDExtension) -> void:
	if extension.resource_path == EXTENSION and not server.is_listening():
		listen_after_reload = server.listen(port)
