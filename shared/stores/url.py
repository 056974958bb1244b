"""Reading ``TICKETS_DATABASE_URL`` and saying which database it names without its password.

Every message about the database names the host and the database, never the password: a URL is
redacted before it reaches a log, an error or a receipt in a workflow history.
"""

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.redaction import split_userinfo
from shared.settings import ConfigError

SCHEMES = ("postgresql", "postgres")
# Query parameters libpq accepts that carry a secret.
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
_QUERY_SECRET = re.compile(r"([?&](?:password|sslpassword)=)[^&#]*", re.IGNORECASE)


@dataclass(frozen=True)
class DatabaseTarget:
    host: str
    port: str
    database: str
    user: str | None
    service: str | None = None  # a libpq service (pg_service.conf) the URL or PGSERVICE names

    def describe(self) -> str:
        if self.service:
            # Its host and database are the service file's, which this process does not read.
            return f"database of the service {self.service!r} (pg_service.conf)"
        return f"database {self.database!r} on {self.host}:{self.port}"


# A password with one of these characters ends the URL's user part early, and libpq then reads
# part of the password as the host or the port: the usual cause of a URL that does not parse.
ENCODE_HINT = (
    "; if the password holds / @ # ? : or %, write them percent-encoded (%2F %40 %23 %3F %3A %25)"
)


def _netloc_without_password(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return netloc
    user = userinfo.split(":", 1)[0]
    return f"{user}@{hostport}" if user else hostport


def redact(url: str) -> str:
    """The URL with any password (in the user part or the query) replaced by nothing: safe to
    print. Text that does not parse as a URL is not echoed at all."""
    # Secrets in the query first, on the raw text (an "@" in the query, user=me@corp, would
    # otherwise be taken for the end of the user part below). Then the user part: a password
    # holding "/", "?" or "#" (base64 ones do) would otherwise be read as the start of the path
    # and printed with it. Everything up to the last "@" goes, but the user's name.
    url = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}***", url)
    scheme, userinfo, after = split_userinfo(url)
    if userinfo is not None:
        user = userinfo.split(":", 1)[0].split("/", 1)[0]
        url = f"{scheme}://{user + '@' if user else ''}{after}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    if not parts.scheme:
        return "(an unreadable URL)"
    query = urlencode(
        [(k, "***" if k in SECRET_PARAMETERS else v) for k, v in parse_qsl(parts.query)]
    )
    return urlunsplit((parts.scheme, _netloc_without_password(parts.netloc), parts.path, query, ""))


def parse_database_url(url: str, variable: str = "TICKETS_DATABASE_URL") -> DatabaseTarget:
    """Host, port, database and user of a PostgreSQL URL; a ConfigError naming ``variable`` (and
    never the password) when it is not one."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{variable} must be a postgresql:// URL (postgresql://user:password@host:5432/db), "
            f"got {redact(url) if scheme else 'text that is not a URL'}"
        )
    # libpq ends the user part at the first "@" and the host at the first "/": a password
    # holding either was read as the host or the database, and printed as them.
    before_query = url.partition("://")[2].split("?", 1)[0]
    ats = before_query.count("@")
    if ats > 1 or (ats == 1 and "/" in before_query.split("@", 1)[0]):
        raise ConfigError(
            f"{variable} has an '@' or a '/' before its host that is not percent-encoded, so "
            f"part of the password would be read as the host or the database: {redact(url)}"
            f"{ENCODE_HINT}"
        )
    # libpq's own parser, loaded here: a process without a database URL never imports psycopg.
    from psycopg.conninfo import conninfo_to_dict

    try:
        fields = conninfo_to_dict(url)
    except Exception:  # psycopg's message may quote the URL, password included
        raise ConfigError(
            f"{variable} is not a valid PostgreSQL URL: {redact(url)}{ENCODE_HINT}"
        ) from None
    service = fields.get("service") or os.environ.get("PGSERVICE", "").strip() or None
    if service and not fields.get("host"):
        return DatabaseTarget("", "", str(fields.get("dbname") or ""), None, str(service))
    host = str(fields.get("host") or "localhost")
    user = fields.get("user")
    port = str(fields.get("port") or "5432")
    # A host list's port list may leave one out (h1:5432,h2: "5432,"): libpq's default port.
    if not all(part.isdigit() or not part for part in port.split(",")):
        raise ConfigError(f"{variable} has a port that is not a number: {redact(url)}{ENCODE_HINT}")
    return DatabaseTarget(
        host=host,
        port=port,
        database=str(fields.get("dbname") or user or "postgres"),
        user=str(user) if user else None,
    )


def password_of(url: str) -> str | None:
    """The password a URL carries, so that messages can be checked not to contain it."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(url).get("password")
    except Exception:
        return None
    return str(value) if value else None
