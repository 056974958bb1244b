"""The review console: server-rendered pages for support agents (api/templates)."""
