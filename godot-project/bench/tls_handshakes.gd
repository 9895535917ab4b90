extends RefCounted
## TLS handshakes of a TCPServer + WebSocketPeer server (the benchmark's and the soak's),
## polled as Godot's own WebSocketMultiplayerPeer polls them.

var _pending: Array[StreamPeerTLS] = []


## Starts the server side of a handshake on an accepted connection.
func start(stream: StreamPeerTCP, options: TLSOptions) -> void:
	var tls := StreamPeerTLS.new()
	if tls.accept_stream(stream, options) == OK:
		_pending.append(tls)


## Polls every handshake under way; returns the streams whose handshake finished, ready
## for WebSocketPeer.accept_stream (failed ones are dropped).
func poll() -> Array[StreamPeerTLS]:
	var done: Array[StreamPeerTLS] = []
	var j := 0
	while j < _pending.size():
		var tls := _pending[j]
		tls.poll()
		match tls.get_status():
			StreamPeerTLS.STATUS_HANDSHAKING:
				j += 1
			StreamPeerTLS.STATUS_CONNECTED:
				done.append(tls)
				_pending.remove_at(j)
			_:
				_pending.remove_at(j)
	return done
