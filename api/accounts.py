"""API tokens and what each may do.

Tokens live in a file (TICKETS_API_TOKENS_FILE) as SHA-256 hashes, never in clear, so the file can
be read by whoever deploys the API without handing out the tokens. A token names its holder; that
name is the reviewer recorded on a review, so a reviewer's identity comes from the token and never
from a request body. ``python -m starter token create NAME --role review`` makes one.
"""

import hashlib
import hmac
import json
import re
import secrets
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.bounded_read import TooLarge, read_text_at_most
from shared.validation import NameGivenTwice, once_each

# Recognisable in logs and secret scanners; 32 random bytes behind it.
TOKEN_PREFIX = "tka_"
# \Z, not $: "$" also matches before a final newline, and "alice\n" broke the tokens file.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}\Z")  # \Z as above: a hash then "\n" never matches
# A token's id prefix: the start of a ticket id (shared/tickets.py TICKET_ID_PATTERN), shorter.
ID_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")
# A tokens file is a short list of people and systems; anything bigger is a mistake.
MAX_TOKENS_FILE_BYTES = 1_048_576


class Role(StrEnum):
    SUBMIT = "submit"  # intake: helpdesks, e-mail gateways, web forms (submitting only)
    READ = "read"  # dashboards, a helpdesk polling outcomes: tickets, lists, the report
    REVIEW = "review"  # support agents: read tickets, approve / edit / rework / reject
    ADMIN = "admin"  # everything


# Roles that include others: a reviewer reads what it reviews.
IMPLIED: dict[Role, frozenset[Role]] = {
    Role.REVIEW: frozenset({Role.READ}),
    Role.ADMIN: frozenset(Role),
}


@dataclass(frozen=True)
class Account:
    name: str
    roles: frozenset[Role]
    # The ids this token may give tickets start with this (None: any). Ids are the namespace's:
    # a leaked web-form token could otherwise take the ids a helpdesk sends next ("HD-1002"),
    # whose tickets would then be refused as collisions (docs/api.md, "Ids").
    id_prefix: str | None = None

    def may(self, role: Role) -> bool:
        return role in self.roles or any(role in IMPLIED.get(held, ()) for held in self.roles)


class TokensFileError(Exception):
    pass


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_entry(name: str, roles: list[Role], token: str, id_prefix: str | None = None) -> str:
    """The tokens file entry (TOML) for a token: its name, roles, id prefix and hash, never the
    token."""
    role_list = ", ".join(f'"{r}"' for r in roles)
    prefix = f'id_prefix = "{id_prefix}"\n' if id_prefix is not None else ""
    return (
        f'[[token]]\nname = "{name}"\nroles = [{role_list}]\n{prefix}'
        f'sha256 = "{token_hash(token)}"\n'
    )


def append_token(
    path: Path, name: str, roles: list[Role], token: str, id_prefix: str | None = None
) -> None:
    """Add a token's entry to the tokens file in its own format: a TOML ``[[token]]`` table, or,
    for a ``.json`` file, one more object in its list (rewritten whole, through a new file put
    in its place, keeping its mode). The caller has checked the file loads and lacks ``name``."""
    if path.suffix != ".json":
        size = path.stat().st_size if path.exists() else 0
        added = ("\n" if size else "") + token_entry(name, roles, token, id_prefix)
        _fits(path, size + len(added.encode()))
        current = read_text_at_most(path, MAX_TOKENS_FILE_BYTES) if size else ""
        try:
            tomllib.loads(current + added)
        except tomllib.TOMLDecodeError:
            # A file that writes its tokens as an inline array (token = [{...}]) takes no
            # [[token]] table after it: appended, the next `serve` refused every token.
            raise TokensFileError(
                f"{path}: a [[token]] table cannot follow how this file lists its tokens (an "
                "inline array, token = [...]?); nothing was added: add the entry to the list "
                "by hand (`token create NAME` without --append prints it), or write the "
                "file's tokens as [[token]] tables"
            ) from None
        with path.open("a", encoding="utf-8") as out:
            out.write(added)
        return
    entry: dict[str, Any] = {"name": name, "roles": [str(r) for r in roles]}
    if id_prefix is not None:
        entry["id_prefix"] = id_prefix
    entry["sha256"] = token_hash(token)
    raw: Any = json.loads(read_text_at_most(path, MAX_TOKENS_FILE_BYTES)) if path.exists() else []
    (raw.setdefault("token", []) if isinstance(raw, dict) else raw).append(entry)
    text = json.dumps(raw, indent=2) + "\n"
    _fits(path, len(text.encode()))
    target = path.resolve()  # a symlinked file (a mounted secret) is replaced where it lives
    fresh = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fresh.write_text(text, encoding="utf-8")
    if target.exists():
        fresh.chmod(target.stat().st_mode & 0o777)
    fresh.replace(target)


def _fits(path: Path, size: int) -> None:
    """Refuse an entry that would take the file past what the API loads: it was added, and
    the next `serve` refused the whole file (every token)."""
    if size > MAX_TOKENS_FILE_BYTES:
        raise TokensFileError(
            f"{path}: one more token would make it {size:,} bytes, past the "
            f"{MAX_TOKENS_FILE_BYTES:,} the API reads; nothing was added (remove tokens no "
            "longer used)"
        )


class TokenRegistry:
    def __init__(self, entries: list[tuple[Account, str]]) -> None:
        self._entries = entries

    @property
    def accounts(self) -> list[Account]:
        return [account for account, _ in self._entries]

    def find(self, token: str) -> Account | None:
        """The account holding ``token``, comparing hashes in constant time against every entry
        (so how long it takes says nothing about which entry, if any, matched)."""
        presented = token_hash(token)
        found = None
        for account, stored in self._entries:
            if hmac.compare_digest(presented, stored):
                found = account
        return found

    @classmethod
    def load(cls, path: Path) -> "TokenRegistry":
        try:
            text = read_text_at_most(path, MAX_TOKENS_FILE_BYTES)
        except TooLarge:
            raise TokensFileError(f"{path}: larger than {MAX_TOKENS_FILE_BYTES:,} bytes") from None
        except OSError as err:
            raise TokensFileError(f"{path}: cannot read the tokens file: {err.strerror}") from None
        except UnicodeDecodeError:
            raise TokensFileError(f"{path}: not UTF-8 text") from None
        kind = "JSON" if path.suffix == ".json" else "TOML"
        try:
            raw = (
                json.loads(text, object_pairs_hook=once_each)
                if kind == "JSON"
                else tomllib.loads(text)
            )
        except NameGivenTwice as err:
            # json would keep the last: {"name": "ana", ..., "name": "root"} would be root.
            raise TokensFileError(
                f"{path}: the name {err.name[:40]!r} is given twice in one object"
            ) from None
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
            raise TokensFileError(f"{path}: not valid {kind}: {err}") from None
        except RecursionError:
            raise TokensFileError(
                f"{path}: its {kind} nests too deeply for a tokens file"
            ) from None
        items = raw.get("token", []) if isinstance(raw, dict) else raw
        if not isinstance(items, list):
            raise TokensFileError(f"{path}: expected a list of tokens under 'token'")
        return cls(_entries(items, str(path)))


def _entries(items: list[Any], where: str) -> list[tuple[Account, str]]:
    entries: list[tuple[Account, str]] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for number, item in enumerate(items, start=1):
        at = f"{where}: token {number}"
        if not isinstance(item, dict):
            raise TokensFileError(f"{at}: expected a table with name, roles and sha256")
        unknown = set(item) - {"name", "roles", "role", "sha256", "id_prefix"}
        if unknown:
            raise TokensFileError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise TokensFileError(
                f"{at}: field 'name' must be 1-64 letters, digits, '.', '_', '@' or '-' "
                f"(got {name!r})"
            )
        roles_raw = item.get("roles", item.get("role"))
        roles_list = [roles_raw] if isinstance(roles_raw, str) else roles_raw
        if not isinstance(roles_list, list) or not roles_list:
            raise TokensFileError(f"{at} ({name}): field 'roles' must list at least one role")
        try:
            roles = frozenset(Role(r) for r in roles_list)
        except ValueError:
            raise TokensFileError(
                f"{at} ({name}): field 'roles' must hold only {', '.join(Role)} "
                f"(got {roles_list!r})"
            ) from None
        digest = item.get("sha256")
        if not isinstance(digest, str) or not HASH_PATTERN.match(digest.lower()):
            raise TokensFileError(
                f"{at} ({name}): field 'sha256' must be the token's SHA-256 as 64 hex digits "
                "(make one with `python -m starter token create`)"
            )
        digest = digest.lower()
        id_prefix = item.get("id_prefix")
        if id_prefix is not None and not (
            isinstance(id_prefix, str) and ID_PREFIX_PATTERN.match(id_prefix)
        ):
            raise TokensFileError(
                f"{at} ({name}): field 'id_prefix' must be the start of a ticket id: 1-32 "
                "letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if name in names:
            raise TokensFileError(f"{at}: the name {name!r} is given twice")
        if digest in hashes:
            raise TokensFileError(f"{at} ({name}): the same token is listed twice")
        names.add(name)
        hashes.add(digest)
        entries.append((Account(name, roles, id_prefix), digest))
    return entries
