"""The HTTP API and review console for support teams: intake from helpdesks, e-mail gateways and
web forms, reading tickets, and review by people signed in with a token.

Started with ``python -m starter serve``; the application itself is ``api.app.create_app``.
"""
