"""A profile import's statements against the audience database: duplicate keys out of staging, then the list's
and the PETs' writes inside the load transaction (`domain.profile_statements`)."""

from __future__ import annotations

from dataclasses import dataclass

from connect_runner.domain.profile_plan import ProfilePlan
from connect_runner.domain.profile_statements import ListWrites, ProfileSteps, remove_duplicates
from connect_runner.domain.statements import Staging, affected_rows
from connect_runtime.db import Conn


@dataclass(frozen=True)
class Duplicates:
    """Earlier lines of a repeated match key, removed from staging (the last one won): how many, and the first
    line numbers."""

    count: int = 0
    lines: tuple[int, ...] = ()


async def remove_duplicate_keys(conn: Conn, staging: Staging, plan: ProfilePlan) -> Duplicates:
    """Remove every earlier line of a repeated match key from staging (valid rows only: rejects are gone)."""
    test, removal = remove_duplicates(staging, plan)
    if not (await conn.fetch(test))[0]["repeated"]:
        return Duplicates()
    row = (await conn.fetch(removal))[0]
    return Duplicates(row["removed"], tuple(row["lines"] or ()))


async def find_taken(conn: Conn, steps: ProfileSteps) -> list[int]:
    """Lines that would write an address or customer id another row holds."""
    if steps.taken is None:
        return []
    return [r["line_no"] for r in await conn.fetch(steps.taken)]


async def apply_profile_writes(conn: Conn, steps: ProfileSteps) -> ListWrites:
    """Count the matches (when needed, before any write), update, insert, then upsert each PET's rows."""
    matched = (await conn.fetch(steps.count_matched))[0]["matched"] if steps.count_matched is not None else None
    updated = updated_rows = 0
    if steps.update is not None:
        row = (await conn.fetch(steps.update))[0]
        updated, updated_rows = row["lines"], row["rows"]
    inserted = affected_rows(await conn.execute(steps.insert)) if steps.insert is not None else 0
    pet_inserted = pet_updated = 0
    for upsert in steps.pets:
        row = (await conn.fetch(upsert))[0]
        pet_inserted += row["inserted"]
        pet_updated += row["updated"]
    return ListWrites(inserted, updated, updated_rows, matched, pet_inserted, pet_updated)


async def find_orphans(conn: Conn, steps: ProfileSteps) -> list[int]:
    """After the writes: lines with PET values but no list row (their PET part is rejected)."""
    if steps.orphans is None:
        return []
    return [r["line_no"] for r in await conn.fetch(steps.orphans)]
