"""The codec server: Temporal's remote codec protocol over HTTP, so the Web UI (and
``temporal --codec-endpoint``) show tickets decrypted to the people allowed to read them.

    python -m starter codec-server [--host H] [--port P]

It holds the key ring, the browser never does: the UI posts the payloads of the page it shows to
``/{namespace}/decode`` (or ``/decode`` with an ``X-Namespace`` header) and gets them back
decrypted. See docs/privacy.md.
"""
