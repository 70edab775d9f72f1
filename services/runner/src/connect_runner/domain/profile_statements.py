"""SQL text of a profile import's load (ADR 0011): set-based, over the staged rows, inside the load transaction.

Staged rows match list rows on the match columns (AND); a match on a column that is not unique (a mobile
number) matches every such row. Matching rows get the mapped columns (an update skips rows it would not change,
so they keep their `MODIFIED_DATE_`), the others are inserted, with `UPDATE … FROM` and `INSERT … SELECT … WHERE
NOT EXISTS` (a non-unique or two-column match has no constraint an `ON CONFLICT` could name). The derived
columns are computed from the stored address, the dates from the transaction's start (UTC). Each PET's rows then
upsert on the `RIID_` of the list rows their line matches. Values are referenced as staged, cast to their
column's type (`values.cast`): only valid rows remain in staging by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_events import ImportProfileData, RunCounts
from connect_events.lists import RIID
from connect_runner.domain.identifiers import quote_ident
from connect_runner.domain.list_tables import list_target, pet_target
from connect_runner.domain.plan import MappedColumn
from connect_runner.domain.profile_plan import EMAIL, PetPart, ProfilePlan, inserts, match_columns
from connect_runner.domain.statements import Staging, find_duplicates, has_duplicates
from connect_runner.domain.values import cast

NOW = "(now() AT TIME ZONE 'UTC')"
UNIQUE_COLUMNS = ("EMAIL_ADDRESS_", "CUSTOMER_ID_")
MAX_LISTED_DUPLICATES = 20


def _ref(column: MappedColumn) -> str:
    return cast(f"s.{column.staging_name}", column.column)


def _name(column: MappedColumn) -> str:
    return quote_ident(column.column.name)


def _derived(address: str) -> dict[str, str]:
    """The columns derived from the (trimmed, lower-cased) address, from its UTF-8 bytes."""
    utf8 = f"convert_to({address}, 'UTF8')"
    return {
        "EMAIL_DOMAIN_": f"split_part({address}, '@', 2)",
        "EMAIL_MD5_HASH_": f"md5({utf8})",
        "EMAIL_SHA256_HASH_": f"encode(sha256({utf8}), 'hex')",
    }


def _match(plan: ProfilePlan) -> str:
    return " AND ".join(f"t.{_name(k)} = {_ref(k)}" for k in plan.matches)


def _matched(plan: ProfilePlan) -> str:
    return f"EXISTS (SELECT 1 FROM {list_target(plan.list_spec.name)} AS t WHERE {_match(plan)})"


def remove_duplicates(staging: Staging, plan: ProfilePlan) -> tuple[str, str]:
    """A cheap test whether a match key repeats, and the statement removing each earlier line of a repeated key
    from staging (the last one wins): how many it removed and the first `MAX_LISTED_DUPLICATES` line numbers."""
    removal = (
        f"WITH gone AS (DELETE FROM {staging.rows} AS r USING ({find_duplicates(staging, plan.staged)}) AS d"
        " WHERE r.line_no = d.line_no RETURNING r.line_no)"
        f" SELECT count(*) AS removed, (array_agg(line_no ORDER BY line_no))[1:{MAX_LISTED_DUPLICATES}] AS lines"
        " FROM gone"
    )
    return has_duplicates(staging, plan.staged), removal


def lock_tables(plan: ProfilePlan) -> str:
    """Keep other writers out of the list and the PETs (readers see the committed rows) until the load commits."""
    tables = [list_target(plan.list_spec.name), *(pet_target(p.pet.name) for p in plan.pets)]
    return f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"


def find_taken(staging: Staging, plan: ProfilePlan, settings: ImportProfileData) -> str | None:
    """Lines that would write an address or customer id (unique in a list) that another row holds: a list row
    the line does not match, or a later line of the file. None: no line can (such a column is the only match
    column, or is not written)."""
    keys = match_columns(settings)
    update, insert = settings.update_on_match, inserts(settings)
    parts: list[str] = []
    for name in UNIQUE_COLUMNS:
        column = plan.column(name)
        if column is None or keys == (name,):
            continue
        updated = update and not column.is_key
        written = _written(plan, insert=insert, update=updated)
        if written is not None:
            parts.append(_taken(staging, plan, column, written))
        if updated and not _matches_one(keys):
            parts.append(_spread(staging, plan, column))
    return " UNION ".join(parts) if parts else None


def _matches_one(keys: tuple[str, ...]) -> bool:
    """Whether a line can match at most one list row: one of its match columns is unique in the list."""
    return any(k in (RIID, *UNIQUE_COLUMNS) for k in keys)


def _written(plan: ProfilePlan, *, insert: bool, update: bool) -> str | None:
    """The condition on a staged row that it is written (inserted or updated); empty: every row is, None: none."""
    if insert and update:
        return ""
    if insert:
        return f"NOT {_matched(plan)}"
    return _matched(plan) if update else None


def _taken(staging: Staging, plan: ProfilePlan, column: MappedColumn, written: str) -> str:
    ref, name = _ref(column), _name(column)
    others = ", ".join(f"t.{_name(k)}" for k in plan.matches)
    own = ", ".join(_ref(k) for k in plan.matches)
    held = (
        f"EXISTS (SELECT 1 FROM {list_target(plan.list_spec.name)} AS t"
        f" WHERE t.{name} = {ref} AND ({others}) IS DISTINCT FROM ({own}))"
    )
    rows = f"FROM {staging.rows} AS s WHERE {ref} IS NOT NULL" + (f" AND {written}" if written else "")
    repeated = f"SELECT s.line_no, max(s.line_no) OVER (PARTITION BY {ref}) AS last {rows}"
    return f"SELECT s.line_no {rows} AND {held} UNION SELECT line_no FROM ({repeated}) r WHERE line_no < last"


def _spread(staging: Staging, plan: ProfilePlan, column: MappedColumn) -> str:
    """Lines matching several list rows (on a mobile number, say) that would write one address or customer id
    into each of them: the unique index would refuse the second, failing the whole load."""
    several = f"(SELECT count(*) FROM {list_target(plan.list_spec.name)} AS t WHERE {_match(plan)}) > 1"
    return f"SELECT s.line_no FROM {staging.rows} AS s WHERE {_ref(column)} IS NOT NULL AND {several}"


def update_list(staging: Staging, plan: ProfilePlan) -> str | None:
    """Replace the mapped columns of matching rows that change; yields the lines and the rows updated. None:
    only match columns are mapped."""
    values = plan.values
    if not values:
        return None
    sets = {c.column.name: _ref(c) for c in values}
    email = plan.column(EMAIL)
    if email is not None and not email.is_key:
        sets.update(_derived(_ref(email)))
    sets["MODIFIED_DATE_"] = NOW
    assignments = ", ".join(f"{quote_ident(n)} = {v}" for n, v in sets.items())
    current = ", ".join(f"t.{_name(c)}" for c in values)
    incoming = ", ".join(_ref(c) for c in values)
    return (
        f"WITH u AS (UPDATE {list_target(plan.list_spec.name)} AS t SET {assignments} FROM {staging.rows} AS s"
        f" WHERE {_match(plan)} AND ({current}) IS DISTINCT FROM ({incoming}) RETURNING s.line_no)"
        " SELECT count(DISTINCT line_no) AS lines, count(*) AS rows FROM u"
    )


def insert_list(staging: Staging, plan: ProfilePlan, settings: ImportProfileData) -> str:
    """Insert the rows matching no list row, with their derived columns, dates and default codes."""
    values = {c.column.name: _ref(c) for c in plan.list_columns}
    email = plan.column(EMAIL)
    if email is not None:
        values.update(_derived(_ref(email)))
    defaults = {
        "EMAIL_PERMISSION_STATUS_": settings.email_permission.default,
        "MOBILE_PERMISSION_STATUS_": settings.mobile_permission.default,
        "EMAIL_FORMAT_": settings.email_format.default,
    }
    values.update({name: f"'{code}'" for name, code in defaults.items() if name not in values})
    values.update({"CREATED_DATE_": NOW, "MODIFIED_DATE_": NOW})
    table = list_target(plan.list_spec.name)
    names = ", ".join(quote_ident(n) for n in values)
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(values.values())} FROM {staging.rows} AS s"
        f" WHERE NOT {_matched(plan)}"
    )


def count_matched(staging: Staging, plan: ProfilePlan) -> str:
    """How many staged lines match a list row."""
    return f"SELECT count(*) AS matched FROM {staging.rows} AS s WHERE {_matched(plan)}"


def _has_values(part: PetPart) -> str:
    return " OR ".join(f"s.{c.staging_name} IS NOT NULL" for c in part.columns)


def upsert_pet(staging: Staging, plan: ProfilePlan, part: PetPart, *, update: bool) -> str:
    """The PET's rows of the lines with a value for it, on the RIIDs their line matches (`update`: a row that
    exists gets the mapped columns, else it is left as it is); yields the inserted and updated counts."""
    riid = quote_ident(RIID)
    names = [_name(c) for c in part.columns]
    action = "DO NOTHING"
    if update:
        assignments = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
        current = ", ".join(f"p.{n}" for n in names)
        incoming = ", ".join(f"EXCLUDED.{n}" for n in names)
        action = f"DO UPDATE SET {assignments} WHERE ({current}) IS DISTINCT FROM ({incoming})"
    refs = ", ".join(_ref(c) for c in part.columns)
    return (
        f"WITH m AS (INSERT INTO {pet_target(part.pet.name)} AS p ({riid}, {', '.join(names)})"
        f" SELECT t.{riid}, {refs} FROM {staging.rows} AS s JOIN {list_target(plan.list_spec.name)} AS t"
        f" ON {_match(plan)} WHERE {_has_values(part)}"
        f" ON CONFLICT ({riid}) {action} RETURNING (p.xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM m"
    )


def find_orphans(staging: Staging, plan: ProfilePlan) -> str | None:
    """Lines with a value for a PET but no list row to attach it to; None: the import fills no PET."""
    if not plan.pets:
        return None
    has_values = " OR ".join(f"({_has_values(p)})" for p in plan.pets)
    return f"SELECT s.line_no FROM {staging.rows} AS s WHERE ({has_values}) AND NOT {_matched(plan)}"


@dataclass(frozen=True)
class ProfileSteps:
    """A profile load's statements, run in this order inside the load transaction; None: skipped."""

    lock: str
    taken: str | None
    update: str | None
    insert: str | None
    count_matched: str | None
    pets: tuple[str, ...]
    orphans: str | None


def profile_steps(staging: Staging, plan: ProfilePlan, settings: ImportProfileData) -> ProfileSteps:
    """What the job's switches ask for: update matching rows and insert the others (each optional; without
    inserts the matching lines are counted, and lines with PET values but no list row are found)."""
    insert = inserts(settings)
    update = settings.update_on_match
    pets: Sequence[str] = [upsert_pet(staging, plan, p, update=update) for p in plan.pets]
    return ProfileSteps(
        lock=lock_tables(plan),
        taken=find_taken(staging, plan, settings),
        update=update_list(staging, plan) if update else None,
        insert=insert_list(staging, plan, settings) if insert else None,
        count_matched=None if insert else count_matched(staging, plan),
        pets=tuple(pets),
        orphans=None if insert else find_orphans(staging, plan),
    )


@dataclass(frozen=True)
class ListWrites:
    """What a profile load wrote, in lines of the file (`updated_rows`: list rows, several for a line matching
    several rows), and the PETs' rows it inserted and updated."""

    inserted: int
    updated: int
    updated_rows: int
    matched: int | None  # counted only when rows are not inserted (else: the valid lines not inserted)
    pet_inserted: int
    pet_updated: int


def profile_counts(
    *, rows_read: int, rejected: int, duplicates: int, writes: ListWrites, bytes_transferred: int
) -> RunCounts:
    """Every line read is exactly one of inserted, updated, unchanged (matched, nothing to change or not to be
    updated), skipped (matched nothing, not inserted), a duplicate, or rejected."""
    valid = rows_read - rejected - duplicates
    matched = writes.matched if writes.matched is not None else valid - writes.inserted
    return RunCounts(
        rows_read=rows_read,
        inserted=writes.inserted,
        updated=writes.updated,
        unchanged=matched - writes.updated,
        skipped=valid - matched - writes.inserted,
        duplicates=duplicates,
        rejected=rejected,
        bytes_transferred=bytes_transferred,
    )
