"""Whether an address names this machine only: where plaintext crosses no network, and where a
file of this machine is all its users share."""

import ipaddress


def loopback_host(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (a name other than localhost may
    resolve to anything, so it is not)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback(address: str) -> bool:
    """Whether ``host:port`` (or a bare host) names this machine."""
    return loopback_host(address.rpartition(":")[0] if ":" in address else address)
