"""The payload converter of every data converter here: temporalio's pydantic converter, with
one set of encoding converters per process instead of one per copy.

``DataConverter.__post_init__`` builds a new payload converter every time a data converter is
copied, and temporalio 1.35 copies it (``dataclasses.replace``) for every payload's store
context whenever external storage is on, as it always is here (shared/data_converter.py): on a
worker, several times per workflow activation and per activity. Each new
``PydanticPayloadConverter`` builds a schema serializer and starts an empty cache of pydantic
type adapters, so every copy also rebuilt the adapters of the types it converted. Measured in
the ticket worker (py-spy, ``bench ticket_cost``): about 4% of its CPU, in those constructors
and the adapters they rebuilt (docs/performance.md, "The payload converter's copies").

Instances of ``SharedPydanticPayloadConverter`` share the encoding converters of the first one
built in the process: the same JSON converter, so one type-adapter cache (a bounded LRU,
thread-safe). The converters themselves keep no per-call state. ``with_context`` (none of these
converters takes a serialization context today) still builds a new instance with its own
converters, as the SDK's composite converter does.
"""

import threading
from typing import ClassVar

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import EncodingPayloadConverter


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    _shared: ClassVar[tuple[EncodingPayloadConverter, ...] | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        cls = type(self)
        # Each class its own set: a subclass (other JSON options, say) builds its own, not its
        # parent's.
        shared = cls.__dict__.get("_shared")
        if shared is None:
            with cls._lock:
                shared = cls.__dict__.get("_shared")
                if shared is None:
                    self._build()
                    cls._shared = tuple(self.converters.values())
                    return
        self._set_converters(*shared)

    def _build(self) -> None:
        """The converters, built as the SDK builds them; a subclass overrides this."""
        super().__init__()
