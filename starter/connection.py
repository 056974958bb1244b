"""The client every command uses, with one clear sentence when the server is not there."""

from temporalio.client import Client

from shared.data_converter import describe_encryption, key_ring_of
from shared.settings import ConfigError
from shared.temporal_client import connect, connection_settings, unreachable_cause
from shared.ticket_listing import first_undecryptable_ticket
from starter.errors import CliError, ServerUnreachable
from starter.render import console


async def open_client() -> Client:
    settings = connection_settings()
    try:
        return await connect(settings)
    except ConfigError as err:  # an unusable key ring or store setting: one sentence
        raise CliError(str(err)) from None
    except RuntimeError as err:
        raise ServerUnreachable(
            f"cannot reach the Temporal server at {settings.describe()}: "
            f"{unreachable_cause(err)}. "
            "Start one with `make run RUN_ARGS=--keep-running`, or set TEMPORAL_ADDRESS."
        ) from None


async def refuse_plaintext_beside_encrypted(client: Client) -> None:
    """A process with no key ring (started from another directory, or without
    TICKETS_ENCRYPTION_KEYS) that would send customer text to a server whose tickets are
    encrypted: there the ring exists and this process is missing it, and a ticket sent readable
    would sit in plain text among them, erasure leaving it in the server's free pages."""
    if key_ring_of(client.data_converter) is not None:
        return
    if (held := await first_undecryptable_ticket(client)) is not None:
        raise CliError(
            f"this server's tickets are encrypted (ticket {held} among them) and this process "
            "has no key ring, so what it sends would be stored readable: run it from the "
            "directory whose data/ holds encryption-keys.json, or give it the workers' ring "
            "(TICKETS_ENCRYPTION_KEYS or TICKETS_ENCRYPTION_KEY_FILE)"
        )


async def warn_if_unencrypted(client: Client) -> None:
    """Commands that send customer text refuse as above, and otherwise say so when this process
    would send it readable, since the workers accept unencrypted input and nothing else would
    notice."""
    await refuse_plaintext_beside_encrypted(client)
    if key_ring_of(client.data_converter) is None:
        console(stderr=True).print(f"warning: {describe_encryption(client.data_converter)}")
