"""What a worker says at start when it checks a provider (its key, its address, its models):
each a sentence naming the provider and what to change."""

import difflib
from collections.abc import Collection

from shared.redaction import safe_url


def check_failed(
    name: str, reason: str, err: BaseException, base_url: object, kind: str = "openai"
) -> str:
    """The worker's start-up warning when a provider's key could not be checked. A 404 there is
    not the key but the address (a base URL without its /v1, or, for the anthropic SDK, which
    adds /v1 itself, with it): every call would fail the same."""
    said = f"{name}: could not verify the API key: {reason}"
    if getattr(err, "status_code", None) == 404:
        base = safe_url(str(base_url).rstrip("/"))
        if kind == "anthropic":
            hint = (
                "the anthropic SDK adds /v1 itself: leave it off the base URL"
                if base.endswith("/v1")
                else "an Anthropic-compatible server's base URL goes without /v1"
            )
            said += f"; nothing answers at {base}/v1/models: is the base URL right? ({hint})"
        else:
            said += (
                f"; nothing answers at {base}/models: is the base URL right? (a compatible "
                "server's usually ends in /v1)"
            )
    return said


def key_rejected(name: str, key_env: str | None, status: object, reason: str) -> str:
    """The worker's start-up refusal when the provider refused the key (or wanted one)."""
    if not key_env:
        return (
            f"{name}: the server wants an API key ({status}: {reason}), and [providers.{name}] "
            'names none (api_key_env = ""): set api_key_env to the variable that holds it'
        )
    return f"{name}: the API key in {key_env} was rejected ({status}): {reason}"


def listed_ids(page: object) -> list[str]:
    """The model ids a models list answered, whatever shape a compatible server gave it (no
    ``data``, entries without an ``id``): a 200 that does not read as a list is not judged,
    and never stops the worker."""
    data = getattr(page, "data", None)
    if not isinstance(data, list):
        return []
    return [m.id for m in data if isinstance(getattr(m, "id", None), str)]


def unlisted_models(name: str, models: Collection[str], listed: Collection[str]) -> str | None:
    """The worker's start-up warning for route models the provider does not list for this key
    (a typo was found only by the first ticket's call, which then failed or fell back). A listed
    dated snapshot or tagged build counts for its alias (claude-haiku-4-5 for
    claude-haiku-4-5-20251001, llama3 for llama3:latest); a server listing nothing is not
    judged. A warning, not a refusal: a gateway may take names it does not list."""
    if not listed:
        return None
    missing = [
        m for m in models if not any(id == m or id.startswith((f"{m}-", f"{m}:")) for id in listed)
    ]
    if not missing:
        return None
    named = []
    for model in missing:
        near = difflib.get_close_matches(model, list(listed), n=1, cutoff=0.8)
        named.append(model + (f" (did you mean {near[0]}?)" if near else ""))
    return (
        f"{name}: {', '.join(named)} {'is' if len(named) == 1 else 'are'} not among the "
        f"{len(listed)} model(s) it lists for this key: every call to "
        f"{'it' if len(named) == 1 else 'them'} will fail unless it takes names it does not list"
    )
