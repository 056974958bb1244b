"""Headers every answer carries, and the console's refusal of forms posted from another site.

- Every answer: ``Cache-Control: no-store`` (tickets, reviews and the console's pages hold
  customer text a shared or browser cache must not keep), ``X-Content-Type-Options: nosniff``
  and ``Referrer-Policy: no-referrer`` (a ticket's URL names its id).
- The console's pages: a Content-Security-Policy that allows no script at all, no style but
  the one ``<style>`` element in base.html (by its hash: no other element, no ``style``
  attribute, no stylesheet from anywhere), forms posted to this origin only and no framing, so
  text a customer wrote cannot run or be dressed up as the console.
- A POST to the console that the browser marks as sent from another site (``Sec-Fetch-Site:
  cross-site`` or ``same-site``) is refused with 403 before any route sees it. A cross-site
  request carries no session (the cookie is SameSite=Strict), so signing out, the one form that
  needs none, could otherwise be triggered by any page; a same-site one (a sibling subdomain)
  does carry it, and the console's own forms are always same-origin.

The documentation pages FastAPI serves (/docs, /redoc) load their scripts from a CDN and get no
policy; they are off unless ``TICKETS_API_DOCS=on`` (api/settings.py).
"""

import base64
import hashlib
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_PREFIX = "/console"
BASE_TEMPLATE = Path(__file__).resolve().parent / "templates" / "base.html"


def style_source(template: Path = BASE_TEMPLATE) -> str:
    """The CSP source allowing the console's one ``<style>`` element: the SHA-256 of its text,
    as the template holds it (no template syntax inside, so every page serves the same text)."""
    text = template.read_text(encoding="utf-8")
    start, end = text.index("<style>") + len("<style>"), text.index("</style>")
    style = text[start:end]
    if any(mark in style for mark in ("{{", "{%", "{#")):
        raise ValueError(f"{template}: the <style> element must hold no template syntax")
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


CONSOLE_POLICY = (
    f"default-src 'none'; style-src {style_source()}; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
EVERY_ANSWER = {
    b"cache-control": b"no-store",
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
}
CONSOLE_ANSWER = {
    b"content-security-policy": CONSOLE_POLICY.encode(),
    b"x-frame-options": b"DENY",
}
# What browsers send in Sec-Fetch-Site for a request from a page of another site.
FOREIGN_SITES = {b"cross-site", b"same-site"}
CROSS_SITE_REFUSAL = (
    b"A form posted to the review console from another site is refused. Open the console "
    b"itself and submit it there."
)


def is_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = is_console(scope.get("path", ""))
        extra = {**EVERY_ANSWER, **(CONSOLE_ANSWER if console else {})}
        if console and scope.get("method") == "POST" and _from_another_site(scope):
            await _refuse(send, extra)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _from_another_site(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name.lower() == b"sec-fetch-site":
            return value.strip().lower() in FOREIGN_SITES
    return False


async def _refuse(send: Send, extra: dict[bytes, bytes]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(CROSS_SITE_REFUSAL)).encode()),
        *extra.items(),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": CROSS_SITE_REFUSAL})
