extends Node
## A game's two kinds of traffic: ordered reliable events and unreliable state updates.

var reliable: Array = []
var unreliable := 0


@rpc("authority", "call_remote", "reliable")
func event(i: int) -> void:
	reliable.append(i)


@rpc("authority", "call_remote", "unreliable")
func state(_i: int, _blob: PackedByteArray) -> void:
	unreliable += 1
