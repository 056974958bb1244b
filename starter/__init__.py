"""The command-line client: ``python -m starter submit|status|list|review|report|run``."""
