"""The hits of a verified analytics feed delivery as records for the shared staging path (`stage_records`), like
`CsvSource` for a file: `plan()` resolves the mapping against `column_headers.tsv`, `batches()` yields
`(record number, value, …)` lists with trimmed values (empty → None).

Records are numbered across the delivery's parts in order, from `first` (a run loading several deliveries numbers
on across them; the log says where each part starts), so a reject points at one hit. Hits the filters drop are
counted by reason and never staged; a hit with another number of fields than the headers name, or holding a
character PostgreSQL cannot store, is rejected on its own. Where the
job asks for a lookup's label instead of an id (`browser`, `country`, an event list), ids are replaced before
staging; an id the lookup does not know is kept as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path

from connect_events import ColumnMapping, TableSpec
from connect_events.values import storable_text
from connect_runner.adapters.csv_source import BATCH_ROWS, StagedRecord
from connect_runner.adapters.feed_files import Lookups, hits
from connect_runner.domain.feed_hits import HitFilter, escape
from connect_runner.domain.feed_manifest import FeedFile
from connect_runner.domain.plan import LoadPlan, resolve_by_header
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.value_formats import BatchReader, chained, value_reader

Picker = Callable[[list[str]], Sequence[str]]


class FeedSource:
    """One pass over a delivery's parts (verified already), in manifest order."""

    def __init__(
        self,
        folder: Path,
        parts: Sequence[FeedFile],
        lookups: Lookups,
        hit_filter: HitFilter,
        labels: Mapping[str, str],
        label: str,
        needed: str | None = None,
        first: int = 1,
    ) -> None:
        self._folder = folder
        self._parts = parts
        self._lookups = lookups
        self._filter = hit_filter
        self._labels = labels  # hit column → lookup table whose label replaces the id
        self.label = label
        self._needed = needed  # a column a hit must have a value in (a PET's match column), else it is filtered
        self.first = first  # the number of the delivery's first hit (a run numbers its deliveries' hits on)
        self.rows_read = 0
        self.rejects: list[tuple[int, str]] = []
        self.filtered: Counter[str] = Counter()
        self.part_starts: list[tuple[str, int]] = []  # each part's first record number, for the log

    @property
    def columns(self) -> list[str]:
        """The hit columns, as `column_headers.tsv` names them."""
        return self._lookups.columns

    def plan(self, mapping: Sequence[ColumnMapping], table: TableSpec, *, truncate_long_text: bool = False) -> LoadPlan:
        """`mapping` resolved against `column_headers.tsv` (it holds no state: any mapping, in any order)."""
        return resolve_by_header(
            self._lookups.columns, mapping, table, self.label, truncate_long_text=truncate_long_text
        )

    resolve = plan

    def batches(self, plan: LoadPlan, rules: BatchReader | None = None) -> Iterator[list[StagedRecord]]:
        """The hits as staged records, `rules` (a profile import's) then the mapping's formats applied a batch at a
        time, as `CsvSource.batches` does; a value they cannot read rejects its hit."""
        read = chained(rules, value_reader(plan, "."))
        columns = self._lookups.columns
        width = len(columns)
        positions = plan.positions
        pick: Picker = itemgetter(*positions) if len(positions) > 1 else (lambda row: (row[positions[0]],))
        excluded = columns.index("exclude_hit") if "exclude_hit" in columns else None
        source = columns.index("hit_source") if "hit_source" in columns else None
        needed = columns.index(self._needed) if self._needed in columns else None
        translated = [
            (columns.index(column), self._lookups.tables.get(table, {}))
            for column, table in self._labels.items()
            if column in columns
        ]
        batch: list[StagedRecord] = []
        before = self.first - 1
        number = before
        for part in self._parts:
            self.part_starts.append((part.name, number + 1))
            for _line, fields in hits(self._folder, part, width, check_width=False):
                number += 1
                self._take(number, fields, width, (excluded, source, needed), translated, pick, batch)
                if len(batch) >= BATCH_ROWS:
                    self.rows_read = number - before
                    yield batch if read is None else read(batch, self.rejects)
                    batch = []
        self.rows_read = number - before
        if batch:
            yield batch if read is None else read(batch, self.rejects)

    def _take(
        self,
        number: int,
        fields: list[str],
        width: int,
        filters: tuple[int | None, int | None, int | None],
        translated: list[tuple[int, dict[str, str]]],
        pick: Picker,
        batch: list[StagedRecord],
    ) -> None:
        if len(fields) != width:
            self.rejects.append((number, RejectReason.WRONG_FIELD_COUNT))
            return
        excluded, source, needed = filters
        reason = self._filter.reason(
            fields[excluded] if excluded is not None else "", fields[source] if source is not None else ""
        )
        if reason is None and needed is not None and not fields[needed].strip():
            reason = "NO_MATCH_VALUE"
        if reason is not None:
            self.filtered[reason] += 1
            return
        for position, table in translated:
            value = fields[position]
            if "," in value:
                fields[position] = ",".join([table.get(v, v) for v in value.split(",")])
            elif value:
                fields[position] = table.get(value, value)
        values = pick(fields)
        if "\x00" in "".join(values):
            self.rejects.append((number, RejectReason.INVALID_DATA_FORMAT))
            return
        batch.append((number, *[v.strip() or None for v in values]))


def raw_hits(folder: Path, parts: Sequence[FeedFile], columns: int, first: int, wanted: set[int]) -> dict[int, str]:
    """The text of the `wanted` hits (numbered from `first` across `parts`) as `hit_data.tsv` writes them, for
    the run's rejects: a second pass, only when hits were rejected."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    number, last = first - 1, max(wanted)
    for part in parts:
        for _line, fields in hits(folder, part, columns, check_width=False):
            number += 1
            if number in wanted:
                found[number] = storable_text("\t".join(escape(field) for field in fields))
            if number >= last:
                return found
    return found
