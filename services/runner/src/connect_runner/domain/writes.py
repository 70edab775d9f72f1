"""Which statements apply a load in each write mode (merge, append, overwrite)."""

from __future__ import annotations

from dataclasses import dataclass

from connect_events import ImportCustomTable, RunCounts
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.statements import (
    Staging,
    delete_all,
    find_existing,
    insert_all,
    insert_unmatched,
    update_matched,
    upsert,
)


@dataclass(frozen=True)
class WriteSteps:
    """The load's statements, run in this order inside the load transaction; None: skipped."""

    reject_existing: str | None = None
    delete: str | None = None
    update: str | None = None
    insert: str | None = None
    upsert: str | None = None

    @property
    def joins_target(self) -> bool:
        """Whether a statement joins the staged rows with the target, so planner statistics pay off.

        The upsert probes the key index row by row and overwrite's insert reads staging alone; the others join.
        """
        unmatched_insert = self.insert is not None and self.delete is None
        return self.reject_existing is not None or self.update is not None or unmatched_insert


def write_steps(staging: Staging, plan: LoadPlan, settings: ImportCustomTable) -> WriteSteps:
    """Merge upserts (each half switchable), append rejects existing keys, overwrite replaces everything."""
    if settings.write_mode == "append":
        return WriteSteps(reject_existing=find_existing(staging, plan), insert=insert_unmatched(staging, plan))
    if settings.write_mode == "overwrite":
        return WriteSteps(delete=delete_all(plan), insert=insert_all(staging, plan))
    if settings.insert_on_no_match and settings.update_on_match:
        return WriteSteps(upsert=upsert(staging, plan))
    return WriteSteps(
        update=update_matched(staging, plan) if settings.update_on_match else None,
        insert=insert_unmatched(staging, plan) if settings.insert_on_no_match else None,
    )


def run_counts(*, rows_read: int, rejected: int, inserted: int, updated: int, bytes_transferred: int) -> RunCounts:
    """Counters of a load: every row read is exactly one of inserted, updated, unchanged (or skipped), rejected."""
    return RunCounts(
        rows_read=rows_read,
        inserted=inserted,
        updated=updated,
        unchanged=rows_read - rejected - inserted - updated,
        rejected=rejected,
        bytes_transferred=bytes_transferred,
    )
