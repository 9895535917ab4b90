#!/usr/bin/env python3
"""Checks the built book's links (docs/book/, after `mdbook build docs`) and README's links
into it: every internal link must reach a page that exists, and every #anchor an element
with that id there. Links to other sites are not fetched. Exit 1 with a list if any is
broken.

    python3 tools/check-book.py [BOOK_DIR]
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()
        self.links = []
        self.in_print = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def main() -> int:
    book = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/book"
    if not (book / "index.html").exists():
        print(f"check-book: {book}/index.html not found: run `mdbook build docs` first")
        return 1
    pages = {p.resolve(): parse(p) for p in book.rglob("*.html")}
    broken = []

    def check(source: str, base: Path, href: str, to_html: bool):
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//") or href.startswith("mailto:"):
            return
        target = base if not parts.path else (base.parent / unquote(parts.path)).resolve()
        if to_html and target.suffix == ".md":
            # README's links go to docs/src/X.md: the page is docs/book/X.html.
            rel = target.relative_to((ROOT / "docs/src").resolve())
            target = (book / rel).with_suffix(".html").resolve()
        if target.is_dir():
            target = target / "index.html"
        if target.suffix == ".html":
            if target not in pages:
                broken.append(f"{source}: {href} (no page {target})")
                return
            if parts.fragment and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{source}: {href} (no #{parts.fragment} there)")
        elif not target.exists():
            broken.append(f"{source}: {href} (no file {target})")

    skip = {"print.html", "404.html", "toc.html"}
    for path, page in pages.items():
        if path.name in skip:
            continue
        for href in page.links:
            check(str(path.relative_to(book.resolve())), path, href, False)
    readme = ROOT / "README.md"
    for href in re.findall(r"\]\(([^)\s]+)\)", readme.read_text(encoding="utf-8")):
        if href.startswith("docs/src/"):
            check("README.md", readme, href, True)
        elif not urlsplit(href).scheme and not href.startswith("#"):
            if not (ROOT / urlsplit(href).path).exists():
                broken.append(f"README.md: {href} (no file)")
    if broken:
        print("check-book: broken links:\n  " + "\n  ".join(broken))
        return 1
    links = sum(len(p.links) for p in pages.values())
    print(f"check-book: {len(pages)} pages, {links} links, every internal one reaches its page and anchor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
