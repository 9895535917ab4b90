@tool
extends Node
## Run as an autoload by the editor (`godot --headless --editor`, tests/it/editor.rs): opens
## the F1 help page of each class of the addon, as a user would, and prints what the page
## says: "HELP <class>: DOCS" when our documentation shows, "HELP <class>: NO_DESCRIPTION"
## when the editor has only the generated skeleton. Then quits the editor.

const PAGES := {
	"WebSocketServer": ["Godot 3's WebSocketServer, back in Godot 4", "Starts listening on", "Seconds a player whose connection broke stays in the game", "client_away", "Compresses messages (permessage-deflate"],
	"WebSocketServerPeer": ["One client connected to a WebSocketServer", "Sends message as one WebSocket message", "agreed to compression"],
}

var frames := 0


func _process(_delta: float) -> void:
	if not Engine.is_editor_hint():
		return
	frames += 1
	if frames < 10:
		return
	set_process(false)
	# Quit once the editor's own first-start work (filesystem scan, caches) is done: quitting
	# in the middle of it can crash the editor at exit, whatever the project holds.
	var fs := EditorInterface.get_resource_filesystem()
	for i in 600:
		if i > 60 and not fs.is_scanning():
			break
		await get_tree().process_frame
	for page in PAGES:
		EditorInterface.get_script_editor().goto_help("class_name:" + page)
		var help := _find_help(EditorInterface.get_script_editor(), page)
		var text: String = "" if help == null else _find_text(help).get_parsed_text()
		var status := "MISSING"
		if PAGES[page].all(func(s): return text.contains(s)):
			status = "DOCS"
		elif text.contains("There is currently no description for this class"):
			status = "NO_DESCRIPTION"
		print("HELP %s: %s" % [page, status])
	get_tree().quit()


## The EditorHelp page showing `page` (goto_help() opens one tab per class; its text
## starts with "Class: <name>").
func _find_help(node: Node, page: String) -> Node:
	if node.get_class() == "EditorHelp":
		var text := _find_text(node)
		if text != null:
			var first_line := text.get_parsed_text().get_slice("\n", 0).replace(String.chr(160), " ")
			if first_line.begins_with("Class:") and first_line.trim_prefix("Class:").strip_edges() == page:
				return node
	for child in node.get_children(true):
		var found := _find_help(child, page)
		if found != null:
			return found
	return null


func _find_text(node: Node) -> RichTextLabel:
	if node is RichTextLabel:
		return node
	for child in node.get_children(true):
		var found := _find_text(child)
		if found != null:
			return found
	return null

