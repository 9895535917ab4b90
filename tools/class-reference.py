#!/usr/bin/env python3
"""The book's class reference, from the documentation Godot itself writes for the addon's
classes (`godot --headless --doctool DIR --gdextension-docs`, Godot 4.3+), so that F1 in
the editor and the book come from the same doc comments in rust/godot/.

    python3 tools/class-reference.py XML_DIR OUT_DIR          writes OUT_DIR/<Class>.md
    python3 tools/class-reference.py --check XML_DIR          lists every member without a
                                                              description; exit 1 if any

tools/class-reference.sh runs the engine and this script.
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

CLASSES = ["WebSocketServer", "WebSocketServerPeer"]
GODOT_DOCS = "https://docs.godotengine.org/en/stable/classes/class_{}.html"


def load(xml_dir: Path) -> dict:
    classes = {}
    for name in CLASSES:
        path = xml_dir / f"{name}.xml"
        if not path.exists():
            sys.exit(f"class-reference: {path} not found: did Godot load the addon?")
        classes[name] = ET.parse(path).getroot()
    return classes


def text_of(node) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.strip()


def members(cls):
    """(kind, name, element) of every method, property, signal and constant."""
    for kind, tag, parent in [
        ("method", "method", "methods"),
        ("member", "member", "members"),
        ("signal", "signal", "signals"),
        ("constant", "constant", "constants"),
    ]:
        group = cls.find(parent)
        if group is None:
            continue
        for el in group.findall(tag):
            yield kind, el.get("name"), el


def description(kind, el) -> str:
    if kind in ("member", "constant"):
        return text_of(el)
    return text_of(el.find("description"))


def link_class(name: str) -> str:
    if name in CLASSES:
        return f"[{name}]({name}.md)"
    return f"[{name}]({GODOT_DOCS.format(name.lower())})"


def bbcode(text: str, here: str) -> str:
    """Godot's documentation BBCode as Markdown."""
    # Code blocks first, their content left alone.
    blocks = []

    def keep_block(m):
        body = m.group(2).strip("\n")
        lines = body.split("\n")
        indent = min((len(l) - len(l.lstrip("\t ")) for l in lines if l.strip()), default=0)
        body = "\n".join(l[indent:] for l in lines)
        lang = "gdscript" if (m.group(1) or "").find("gdscript") >= 0 or m.group(1) is None else "text"
        blocks.append(f"\n```{lang}\n{body}\n```\n")
        return f"\x00{len(blocks) - 1}\x00"

    text = re.sub(r"\[codeblock(?: lang=(\w+))?\](.*?)\[/codeblock\]", keep_block, text, flags=re.S)
    text = re.sub(r"\[codeblocks\](.*?)\[/codeblocks\]", lambda m: m.group(1), text, flags=re.S)
    # Paragraphs: the XML indents each line with tabs.
    text = "\n".join(l.strip() for l in text.split("\n"))
    text = re.sub(r"\[code\](.*?)\[/code\]", lambda m: f"`{m.group(1)}`", text, flags=re.S)
    text = re.sub(r"\[b\](.*?)\[/b\]", r"**\1**", text, flags=re.S)
    text = re.sub(r"\[i\](.*?)\[/i\]", r"*\1*", text, flags=re.S)
    text = re.sub(r"\[url=([^\]]+)\](.*?)\[/url\]", r"[\2](\1)", text, flags=re.S)
    text = re.sub(r"\[url\](.*?)\[/url\]", r"<\1>", text, flags=re.S)
    text = text.replace("[br][br]", "\n\n").replace("[br]", "  \n")
    text = re.sub(r"\[param (\w+)\]", r"`\1`", text)

    def ref(m):
        kind, target = m.group(1), m.group(2)
        if "." in target:
            cls, name = target.split(".", 1)
        else:
            cls, name = here, target
        if cls in CLASSES:
            page = "" if cls == here else f"{cls}.md"
            return f"[`{target}`]({page}#{kind}-{name.lower().replace('_', '-')})"
        page = GODOT_DOCS.format(cls.lower())
        return f"[`{target}`]({page}#class-{cls.lower()}-{kind}-{name.lower().replace('_', '-')})"

    text = re.sub(r"\[(method|member|signal|constant|enum) ([\w.]+)\]", ref, text)
    text = re.sub(r"\[([A-Z]\w+)\]", lambda m: link_class(m.group(1)), text)
    for i, block in enumerate(blocks):
        text = text.replace(f"\x00{i}\x00", block)
    return text.strip()


def anchor(kind: str, name: str) -> str:
    return f"{kind}-{name.lower().replace('_', '-')}"


def signature(el, kind: str) -> str:
    params = []
    for p in sorted(el.findall("param"), key=lambda p: int(p.get("index", 0))):
        s = f"{p.get('name')}: {p.get('type')}"
        if p.get("default") is not None:
            s += f" = {p.get('default')}"
        params.append(s)
    ret = el.find("return")
    tail = ""
    if ret is not None:
        tail = f" -> {ret.get('enum') or ret.get('type')}"
    qualifiers = f" ({el.get('qualifiers')})" if el.get("qualifiers") else ""
    prefix = "signal " if kind == "signal" else ""
    return f"{prefix}{el.get('name')}({', '.join(params)}){tail}{qualifiers}"


def page(name: str, cls) -> str:
    out = [f"# {name}", ""]
    out.append(f"Inherits: {link_class(cls.get('inherits'))}")
    out.append("")
    out.append(bbcode(text_of(cls.find("brief_description")), name))
    out.append("")
    out.append("## Description")
    out.append("")
    out.append(bbcode(text_of(cls.find("description")), name))
    out.append("")
    sections = [
        ("member", "Properties"),
        ("method", "Methods"),
        ("signal", "Signals"),
        ("constant", "Constants"),
    ]
    for kind, title in sections:
        items = sorted(((n, el) for k, n, el in members(cls) if k == kind), key=lambda x: x[0])
        if not items:
            continue
        out += [f"## {title}", ""]
        for member, el in items:
            out.append(f'<a id="{anchor(kind, member)}"></a>')
            out.append("")
            if kind == "member":
                default = el.get("default")
                default = f" = {default}" if default is not None else ""
                out.append(f"### `{member}: {el.get('type')}{default}`")
            elif kind == "constant":
                enum = f" ({el.get('enum')})" if el.get("enum") else ""
                out.append(f"### `{member} = {el.get('value')}`{enum}")
            else:
                out.append(f"### `{signature(el, kind)}`")
            out.append("")
            out.append(bbcode(description(kind, el), name) or "*No description.*")
            out.append("")
    out.append(
        "*Generated by `tools/class-reference.sh` from the documentation Godot writes for "
        "the addon (`--doctool --gdextension-docs`): the text of the editor's F1 help.*"
    )
    return "\n".join(out) + "\n"


def main(argv):
    if argv and argv[0] == "--check":
        classes = load(Path(argv[1]))
        missing = []
        for name, cls in classes.items():
            if not text_of(cls.find("description")):
                missing.append(f"{name} (the class)")
            for kind, member, el in members(cls):
                if not description(kind, el):
                    missing.append(f"{name}.{member} ({kind})")
        counted = sum(1 for cls in classes.values() for _ in members(cls))
        if missing:
            print("without a description:\n  " + "\n  ".join(missing))
            return 1
        print(f"class-reference: every one of {counted} members has a description")
        return 0
    xml_dir, out_dir = Path(argv[0]), Path(argv[1])
    classes = load(xml_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, cls in classes.items():
        (out_dir / f"{name}.md").write_text(page(name, cls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
