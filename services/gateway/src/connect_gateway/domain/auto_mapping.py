"""Auto-mapping (spec §4.2): a file's header names matched to a table's columns by name, as the runner matches
them (case-insensitive, surrounding spaces ignored)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AutoMapping:
    """The (source, target) pairs found, the header names left over, and the columns no name matched."""

    mapping: tuple[tuple[str, str], ...]
    unmatched_sources: tuple[str, ...]
    unmapped_columns: tuple[str, ...]


def auto_map(header: Sequence[str], columns: Sequence[str]) -> AutoMapping:
    """Each header name mapped to the column of the same name, in header order.

    A name the header holds twice maps nothing (the runner refuses a mapped name it cannot tell apart): both
    stay unmatched and the column unmapped.
    """
    by_key = {column.casefold(): column for column in columns}
    seen = Counter(name.strip().casefold() for name in header)
    mapping: list[tuple[str, str]] = []
    unmatched: list[str] = []
    for name in header:
        key = name.strip().casefold()
        column = by_key.get(key)
        if column is None or seen[key] > 1:
            unmatched.append(name)
        else:
            mapping.append((name.strip(), column))
    mapped = {target for _source, target in mapping}
    return AutoMapping(tuple(mapping), tuple(unmatched), tuple(c for c in columns if c not in mapped))
