extends Node
## The node that bench/mp_rpc.gd calls on both sides: a client pings the server by
## reliable RPC, the server answers with a pong RPC, the client records the round trip
## and pings again.

var rtts: Array = []
var sent_at := 0


func start() -> void:
	sent_at = Time.get_ticks_usec()
	ping.rpc_id(1)


@rpc("any_peer", "call_remote", "reliable")
func ping() -> void:
	pong.rpc_id(multiplayer.get_remote_sender_id())


@rpc("authority", "call_remote", "reliable")
func pong() -> void:
	var now := Time.get_ticks_usec()
	rtts.append(now - sent_at)
	sent_at = now
	ping.rpc_id(1)
