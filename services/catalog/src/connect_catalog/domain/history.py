"""What an edit changed: the dotted paths where two definitions (as JSON) differ."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """Sorted dotted paths of the values that differ, e.g. `schedule.time` or `settings.mapping`.

    Objects are compared member by member; anything else (a list, a text, a number) is one value, so a
    reordered mapping is `settings.mapping` rather than one path per entry. Objects of different kinds
    (a daily schedule replaced by a cron one) differ as a whole.
    """
    return tuple(sorted(_differences(old, new, "")))


def _differences(old: Any, new: Any, path: str) -> Iterator[str]:
    if old == new:
        return
    if not (_comparable_objects(old, new)):
        yield path
        return
    for key in sorted(set(old) | set(new)):
        yield from _differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)


def _comparable_objects(old: Any, new: Any) -> bool:
    """Two objects of the same kind, so their members can be compared one by one."""
    return isinstance(old, Mapping) and isinstance(new, Mapping) and old.get("kind") == new.get("kind")
