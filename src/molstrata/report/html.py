"""``report.html``: the Markdown that molstrata's reports write, as one self-contained HTML
page (figures embedded as base64 PNG).

It converts only what the reports use: ``#`` headings, paragraphs, ``- `` lists, pipe tables,
``![caption](figures/x.png)`` images, ``**bold**``, `` `code` `` and ``[text](link)``; HTML
comments (section markers) are dropped. Everything else is escaped.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}code{background:#f4f4f4;padding:0 3px}"
)


def _image(match: re.Match, root: Path) -> str:
    alt, src = match.group(1), match.group(2)
    path = (root / src) if not src.startswith(("http://", "https://", "/")) else None
    if path is not None and path.suffix.lower() == ".png" and path.is_file():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    return f"<em>[figure not found: {html.escape(src)}]</em>"


def inline(text: str, root: Path) -> str:
    """One line of Markdown text as HTML (escaped; images embedded from ``root``)."""
    parts, pos = [], 0
    for m in _IMAGE.finditer(text):
        parts += [_inline_text(text[pos:m.start()]), _image(m, root)]
        pos = m.end()
    parts.append(_inline_text(text[pos:]))
    return "".join(parts)


def _inline_text(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return _LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', out)


def _table(rows: list[str], root: Path) -> str:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    body = [c for c in cells[1:] if not all(set(x) <= set("-: ") for x in c)]
    head = "".join(f"<th>{inline(c, root)}</th>" for c in cells[0])
    trs = "".join("<tr>" + "".join(f"<td>{inline(c, root)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>"


def markdown_to_html(text: str, root: str | Path, title: str = "molstrata report") -> str:
    """The page for report Markdown ``text``; relative image paths resolve against ``root``."""
    root = Path(root)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    out: list[str] = []
    block: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal block, kind
        if block:
            if kind == "table":
                out.append(_table(block, root))
            elif kind == "list":
                out.append("<ul>" + "".join(f"<li>{inline(b[2:], root)}</li>" for b in block) + "</ul>")
            else:
                out.append("<p>" + " ".join(inline(b, root) for b in block) + "</p>")
        block, kind = [], ""

    for line in text.splitlines():
        stripped = line.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        new = "table" if stripped.startswith("|") else "list" if stripped.startswith("- ") else "p"
        if not stripped or heading or new != kind:
            flush()
        if heading:
            n = len(heading.group(1))
            out.append(f"<h{n}>{inline(heading.group(2), root)}</h{n}>")
        elif stripped:
            block.append(stripped)
            kind = new
    flush()
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
