"""Register the ticket search attributes on a namespace when they are missing.

Used by the worker at start-up and by the embedded-server launcher, so any Temporal server works
(the embedded one, one started by hand, a self-hosted cluster) without a manual step.
"""

from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shared.search_attributes import ALL_KEYS, type_name


class SearchAttributeSetupError(Exception):
    pass


async def ensure_search_attributes(client: Client) -> list[str]:
    """Returns the names it registered (empty when all were there already)."""
    try:
        listing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = dict(listing.custom_attributes)
    except RPCError as err:
        # The time-skipping test server can add search attributes but not list them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise SearchAttributeSetupError(
                f"could not list search attributes of namespace {client.namespace}: {err.message}"
            ) from None
        existing = {}
    missing = {}
    for key in ALL_KEYS:
        wanted = int(key.indexed_value_type)
        if key.name not in existing:
            missing[key.name] = wanted
        elif int(existing[key.name]) != wanted:
            raise SearchAttributeSetupError(
                f"search attribute {key.name} exists with another type; it must be "
                f"{key.indexed_value_type.name.title()} (remove it or use another namespace)"
            )
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes=missing,  # type: ignore[arg-type]
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            return []
        names = ", ".join(f"{name}={ALL_TYPES[name]}" for name in missing)
        raise SearchAttributeSetupError(
            f"search attributes {', '.join(missing)} are missing and could not be registered "
            f"({err.message}); register them once with your namespace admin tools ({names})"
        ) from None
    return sorted(missing)


ALL_TYPES = {key.name: type_name(key) for key in ALL_KEYS}
