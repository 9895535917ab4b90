extends Node
## The node that RPC tests call on every multiplayer branch (same path everywhere).

var received: Array = []


@rpc("any_peer", "call_remote", "reliable")
func hello(message: String) -> void:
	received.append([multiplayer.get_remote_sender_id(), message])


## A client asks the server to answer it by RPC.
@rpc("any_peer", "call_remote", "reliable")
func ping(message: String) -> void:
	var sender := multiplayer.get_remote_sender_id()
	received.append([sender, message])
	hello.rpc_id(sender, "pong " + message)
