class_name WebSocketSessionClient
extends Node
## A WebSocket client whose player survives a broken connection.
##
## Built on Godot's own [WebSocketPeer], for desktop, mobile and web exports alike. It asks
## a [code]WebSocketServer[/code] with [code]reconnect_grace_period[/code] on for a session;
## when the connection breaks (a network change, a tunnel, a sleeping laptop), it comes back
## by itself with backoff while the server's grace lasts, and it is the same player again:
## the same id, every message the server sent meanwhile delivered first, every message
## sent meanwhile delivered to the server once, in order. The game only sees messages and
## the [signal away] / [signal back] moments. A link that goes silent (nothing, not even
## the server's keepalive, for twice the welcome's [code]keepalive[/code] and a second) is
## taken for broken.
## [codeblock]
## var client := WebSocketSessionClient.new()
##
## func _ready():
##     add_child(client)  # polls itself; or call client.poll() every frame
##     client.connected.connect(func(id): print("I am player ", id))
##     client.message_received.connect(func(message): print(message))
##     client.away.connect(func(): $Status.text = "reconnecting...")
##     client.back.connect(func(): $Status.text = "")
##     client.closed.connect(func(code, reason): print("over: ", code, " ", reason))
##     client.connect_to_url("wss://game.example.com/play")
##
## func _on_button_pressed():
##     client.send_text(JSON.stringify({"move": "left"}))
## [/codeblock]
## The protocol is documented in the book (docs/src/reconnection.md); a server without
## sessions (or with [code]reconnect_grace_period = 0[/code]) gives a plain connection.

## The connection is open and the server welcomed it (a session, or a plain connection
## when the server has sessions off). [param id] is this client's peer id on the server.
signal connected(id: int)
## A message from the server: a [String] for text, a [PackedByteArray] for binary.
signal message_received(message: Variant)
## The connection broke; the client is coming back. Messages sent meanwhile are kept.
signal away
## The client is back in its session: nothing was lost.
signal back
## It is over: a clean close by either side, the server's grace ran out, the server no
## longer had the session (4000) or turned the return away (4002), or another connection
## of this session replaced this one (4001). [param code] is the close code (1006 for a
## broken connection).
signal closed(code: int, reason: String)

enum State {
	DISCONNECTED, ## Not connected yet.
	CONNECTING, ## Opening the first connection.
	CONNECTED, ## Messages flow.
	AWAY, ## The connection broke; coming back.
	CLOSING, ## [method close] was called.
	CLOSED, ## Over.
}

## The protocol version this client speaks.
const PROTOCOL_VERSION := 2
const _ACK_EVERY := 32
const _ACK_DELAY_MS := 100
const _FIRST_RETRY_MS := 100
const _MAX_RETRY_MS := 2000

## Where the client is in its life.
var state: State = State.DISCONNECTED
## This client's peer id on the server (0 until [signal connected]).
var id := 0
## The server's grace period in seconds (0: no session, a plain connection).
var grace_period := 0.0
## Subprotocols to offer, as [member WebSocketPeer.supported_protocols].
var supported_protocols := PackedStringArray()
## Inbound and outbound buffer size of each connection, in bytes.
var buffer_size := 1 << 20
## Seconds a connection may take to bring the server's welcome. A return that takes longer
## is given up and tried again; a first connection that does is over (1006).
var connect_timeout := 5.0

var _url := ""
var _tls: TLSOptions
var _ws: WebSocketPeer
var _welcomed := false
var _session := ""
var _received := 0
var _acked := 0
var _last_ack_ms := 0
# Messages sent and not acknowledged by the server: [data, is_text]; the first is number
# _first of the session.
var _log: Array = []
var _first := 1
var _away_since_ms := 0
var _keepalive_ms := 0
var _heard_ms := 0
var _hello_sent := false
var _dialed_ms := 0
var _retry_at_ms := 0
var _retry_ms := _FIRST_RETRY_MS


func _process(_delta: float) -> void:
	poll()


## Connects to [param url] (ws:// or wss://) asking for a session.
func connect_to_url(url: String, tls_options: TLSOptions = null) -> Error:
	if state != State.DISCONNECTED and state != State.CLOSED:
		push_error("WebSocketSessionClient: already connected; call close() first.")
		return ERR_ALREADY_IN_USE
	_url = url
	_tls = tls_options
	_session = ""
	_received = 0
	_acked = 0
	_log.clear()
	_first = 1
	id = 0
	grace_period = 0.0
	var err := _dial(_with_query("gws=%d" % PROTOCOL_VERSION))
	if err == OK:
		state = State.CONNECTING
	return err


## Sends a text message. Kept and sent again after a reconnection until the server has it.
func send_text(text: String) -> Error:
	return _send(text.to_utf8_buffer(), true)


## Sends a binary message. Kept and sent again after a reconnection until the server has it.
func send(data: PackedByteArray) -> Error:
	return _send(data, false)


## Ends the session with a clean close (the server forgets it at once).
func close(code: int = 1000, reason: String = "") -> void:
	if state == State.CLOSED or state == State.DISCONNECTED:
		return
	if state == State.AWAY or _ws == null:
		_finish(code, reason)
		return
	state = State.CLOSING
	_ws.close(code, reason)


## Whether the connection broke and the client is coming back.
func is_away() -> bool:
	return state == State.AWAY


## Messages sent that the server has not acknowledged yet.
func get_unacknowledged_count() -> int:
	return _log.size()


## Does the network work: reads, acknowledges, reconnects. Called every frame when the
## client is in the scene tree; call it yourself otherwise.
func poll() -> void:
	if _ws == null:
		if state == State.AWAY:
			_retry()
		return
	_ws.poll()
	match _ws.get_ready_state():
		WebSocketPeer.STATE_OPEN:
			if state == State.AWAY and not _hello_sent:
				_ws.send(_hello())
				_hello_sent = true
			_read()
			_acknowledge(false)
			_watch()
		WebSocketPeer.STATE_CLOSED:
			_on_closed()
			return
	if _ws != null and not _welcomed and Time.get_ticks_msec() - _dialed_ms > int(connect_timeout * 1000.0):
		_give_up_attempt()


func _send(data: PackedByteArray, is_text: bool) -> Error:
	if state != State.CONNECTED and state != State.AWAY:
		push_error("WebSocketSessionClient: not connected; call connect_to_url() first.")
		return ERR_UNCONFIGURED
	if _session == "":
		return _ws.send(data, _mode(is_text))
	_log.append([data, is_text])
	if state == State.CONNECTED:
		_write(data, is_text)
	return OK


func _write(data: PackedByteArray, is_text: bool) -> void:
	# A connection that broke and is not noticed yet: the log has it for the return.
	if _ws == null or _ws.get_ready_state() != WebSocketPeer.STATE_OPEN:
		return
	if data.size() > 0 and data[0] == 0:
		var escaped := PackedByteArray([0, 0])
		escaped.append_array(data)
		data = escaped
	_ws.send(data, _mode(is_text))


func _mode(is_text: bool) -> WebSocketPeer.WriteMode:
	return WebSocketPeer.WRITE_MODE_TEXT if is_text else WebSocketPeer.WRITE_MODE_BINARY


func _with_query(query: String) -> String:
	return _url + ("&" if _url.contains("?") else "?") + query


func _dial(url: String) -> Error:
	_ws = WebSocketPeer.new()
	_ws.supported_protocols = supported_protocols
	_ws.inbound_buffer_size = buffer_size
	_ws.outbound_buffer_size = buffer_size
	_ws.max_queued_packets = 65535
	_welcomed = false
	_hello_sent = false
	_dialed_ms = Time.get_ticks_msec()
	var err := _ws.connect_to_url(url, _tls)
	if err != OK:
		_ws = null
	return err


func _read() -> void:
	while _ws != null and _ws.get_available_packet_count() > 0:
		_heard_ms = Time.get_ticks_msec()
		var packet := _ws.get_packet()
		var is_text := _ws.was_string_packet()
		if not _welcomed:
			_welcome(packet, is_text)
			continue
		if _session != "" and packet.size() > 0 and packet[0] == 0:
			if packet.size() >= 2 and packet[1] == 0:
				packet = packet.slice(2)
			else:
				if packet.size() == 10 and packet[1] == 1 and not is_text:
					_forget_up_to(packet.decode_u64(2))
				continue
		if _session != "":
			_received += 1
		message_received.emit(packet.get_string_from_utf8() if is_text else packet)


func _welcome(packet: PackedByteArray, is_text: bool) -> void:
	var json = null
	if not is_text and packet.size() > 2 and packet[0] == 0 and packet[1] == 2:
		json = JSON.parse_string(packet.slice(2).get_string_from_utf8())
	if typeof(json) != TYPE_DICTIONARY:
		push_error("WebSocketSessionClient: the server did not welcome this client; is it a WebSocketServer?")
		_ws.close(1002, "no welcome")
		_ws = null
		_finish(1002, "the server does not speak the session protocol")
		return
	_welcomed = true
	var returning := state == State.AWAY
	if returning and not json.get("resumed", false):
		# Too late: the server forgot the session.
		_ws.close(1000, "")
		_ws = null
		_finish(4000, "the server no longer had this session")
		return
	id = int(json.get("id", 0))
	grace_period = float(json.get("grace", 0.0))
	_session = str(json.get("session", ""))
	_keepalive_ms = int(float(json.get("keepalive", 0.0)) * 1000.0)
	_heard_ms = Time.get_ticks_msec()
	_retry_ms = _FIRST_RETRY_MS
	state = State.CONNECTED
	if not returning:
		connected.emit(id)
		return
	# The welcome acknowledged at once: the server then knows this client has the new
	# secret, and the old one opens nothing.
	_acknowledge(true)
	# The server has what it received: the rest again, in order.
	_forget_up_to(int(json.get("received", 0)))
	for entry in _log:
		_write(entry[0], entry[1])
	back.emit()


func _forget_up_to(count: int) -> void:
	while _first <= count and not _log.is_empty():
		_log.pop_front()
		_first += 1


func _acknowledge(force: bool) -> void:
	if state != State.CONNECTED or _session == "" or (_received == _acked and not force):
		return
	var now := Time.get_ticks_msec()
	if force or _received - _acked >= _ACK_EVERY or now - _last_ack_ms >= _ACK_DELAY_MS:
		if _ws.get_ready_state() != WebSocketPeer.STATE_OPEN:
			return
		var ack := PackedByteArray([0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
		ack.encode_u64(2, _received)
		_ws.send(ack)
		_acked = _received
		_last_ack_ms = now


func _on_closed() -> void:
	var code := _ws.get_close_code()
	var reason := _ws.get_close_reason()
	_ws = null
	var clean := code != -1 and code != 1006
	match state:
		State.CONNECTING:
			_finish(code if clean else 1006, reason)
		State.CONNECTED:
			if clean or _session == "":
				_finish(code if clean else 1006, reason)
				return
			state = State.AWAY
			_away_since_ms = Time.get_ticks_msec()
			_retry_ms = _FIRST_RETRY_MS
			_retry_at_ms = _away_since_ms
			away.emit()
		State.AWAY:
			# The server turned the return away: the session cannot be resumed.
			if clean and code == 4002:
				_finish(code, reason)
				return
			# A connection that broke before (or right after) its welcome: try again.
			_retry_at_ms = Time.get_ticks_msec() + _retry_ms
			_retry_ms = mini(_retry_ms * 2, _MAX_RETRY_MS)
		State.CLOSING:
			_finish(code if clean else 1006, reason)


# A connection that brought no welcome in time (a silent link, a server that hangs).
func _give_up_attempt() -> void:
	_ws = null
	if state == State.AWAY:
		_retry_at_ms = Time.get_ticks_msec() + _retry_ms
		_retry_ms = mini(_retry_ms * 2, _MAX_RETRY_MS)
	else:
		_finish(1006, "no welcome from the server within %s s" % connect_timeout)


func _retry() -> void:
	var now := Time.get_ticks_msec()
	if now - _away_since_ms > int(grace_period * 1000.0):
		_finish(1006, "could not come back within the server's grace period")
		return
	if now < _retry_at_ms:
		return
	_acked = _received  # the hello says it
	var query := "gws=%d&gws_return=%d" % [PROTOCOL_VERSION, id]
	if _dial(_with_query(query)) != OK:
		_retry_at_ms = now + _retry_ms
		_retry_ms = mini(_retry_ms * 2, _MAX_RETRY_MS)


# A returning client's first frame: 00 03, the secret (16 bytes), what it received.
func _hello() -> PackedByteArray:
	var hello := PackedByteArray([0, 3])
	hello.append_array(_session.hex_decode())
	var count := PackedByteArray([0, 0, 0, 0, 0, 0, 0, 0])
	count.encode_u64(0, _received)
	hello.append_array(count)
	return hello


# A session's link silent for too long is dead, though the socket has not noticed.
func _watch() -> void:
	if state != State.CONNECTED or _session == "" or _keepalive_ms == 0:
		return
	if Time.get_ticks_msec() - _heard_ms <= 2 * _keepalive_ms + 1000:
		return
	_ws = null
	state = State.AWAY
	_away_since_ms = Time.get_ticks_msec()
	_retry_ms = _FIRST_RETRY_MS
	_retry_at_ms = _away_since_ms
	away.emit()


func _finish(code: int, reason: String) -> void:
	_ws = null
	state = State.CLOSED
	closed.emit(code, reason)
