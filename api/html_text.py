"""The text of an e-mail's HTML part, for a message that has no plain text (many mail clients and
helpdesk widgets send HTML only): a gateway posting such a message with an empty ``text`` was
refused for good (422), and a gateway treats a 4xx as final, so the customer's message was lost
(a review, 2026-12-08).

What a reader sees, roughly: block elements and ``<br>`` break lines, list items start with
"- ", ``<script>``, ``<style>``, ``<title>`` and ``<template>`` say nothing, character references
are read (the standard library's parser does that), and runs of spaces are one. Links keep their
words only. No layout beyond that: the agents read words, not tables.

Bounded: the input is the request's (``InboundEmail.html``'s limit). The standard library's
parser (CPython 3.11) takes quadratic time on a ``<`` that starts no complete tag, repeated
("<a<a<a...": 19 s for 200 KB, minutes for a megabyte; a review, 2026-12-08), so every such
``<`` is made ``&lt;`` first (it is text to a browser too): linear, about 0.05 s for 200 KB.
"""

import re
from html.parser import HTMLParser
from typing import Final

# Elements that end a line of text where they start or end.
_BLOCKS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
# Elements whose content is never shown as text. Not <head>: HTML lets its end tag out, and a
# message whose </head> was left out read as empty (its text the head's); what a head holds
# that is text (<title>, <style>, <script>) is silent on its own.
_SILENT: Final = frozenset({"script", "style", "template", "title", "noscript"})
# A "<" that starts no complete tag (another "<" or the end comes before a ">").
_NOT_A_TAG: Final = re.compile(r"<(?=[^<>]*(?:<|$))")
_SPACES: Final = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES: Final = re.compile(r"\n{3,}")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.silent = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SILENT:
            self.silent += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:  # <br/>, <hr/>
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SILENT:
            self.silent = max(0, self.silent - 1)
        elif tag in _BLOCKS and tag != "li":  # the next item's start breaks the line
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.silent:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The words of ``html`` as lines of text (empty when it shows none)."""
    reader = _Reader()
    reader.feed(_NOT_A_TAG.sub("&lt;", html))
    reader.close()
    text = "".join(reader.parts).replace("\r\n", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
