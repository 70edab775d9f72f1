"""Structured JSON logs: one object per line on stderr, with the service name on every record, and the run
(`JobID.RunID`) and correlation id of the work in hand on every record logged while it is handled.

`log_context(run=..., correlation_id=...)` names that work for everything logged inside it, by our code or a
library's, in the same task (a context variable: concurrent runs in other tasks keep their own). A field passed
in `extra` wins over the context's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from pythonjsonlogger.json import JsonFormatter

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("connect_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add `fields` to every record logged inside the block (in this task and the tasks it starts)."""
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **fields}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def context_fields() -> Mapping[str, str]:
    """The fields `log_context` adds here."""
    return _CONTEXT.get()


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route all logging through one JSON handler; pass `extra={...}` for fields of one record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ServiceFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every rebalance step at INFO; keep its warnings only.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
