"""The offline provider: deterministic rules and the bundled knowledge base, no network."""

from activities.providers.offline.provider import OFFLINE_MODEL, OfflineProvider

__all__ = ["OFFLINE_MODEL", "OfflineProvider"]
