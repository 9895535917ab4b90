extends Node
## The game of tests/it/slow_client.rs, as one player receives it: a world state 60 times a
## second (unreliable), an event 10 times a second (reliable, numbered), and the end.

## World states received.
var states := 0
## Age of each state at arrival, in ms (send time to arrival, one clock: one machine),
## from 3 s after the first one on.
var ages_msec: Array[float] = []
## The numbers of the events received, in arrival order.
var events: Array[int] = []
## The server said it stopped, and how much it sent.
var finished := false
var ticks_sent := 0
var events_sent := 0
var _first_usec := 0


@rpc("authority", "call_remote", "unreliable")
func state(_tick: int, sent_usec: int, _blob: PackedByteArray) -> void:
	states += 1
	var now := int(Time.get_unix_time_from_system() * 1e6)
	if _first_usec == 0:
		_first_usec = now
	if now - _first_usec > 3_000_000:
		ages_msec.append((now - sent_usec) / 1000.0)


@rpc("authority", "call_remote", "reliable")
func event(n: int) -> void:
	events.append(n)


@rpc("authority", "call_remote", "reliable")
func finish(ticks: int, n_events: int) -> void:
	finished = true
	ticks_sent = ticks
	events_sent = n_events
