"""The error a configuration that cannot be used raises (shared.settings, shared.settings_env)."""


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the field."""
