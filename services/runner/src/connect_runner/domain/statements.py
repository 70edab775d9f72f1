"""SQL text for one load: target DDL, the staging tables, set-based validation and the writes.

User-given names (table, columns) are always quoted by `quote_ident`; staging names are built from numbers
only. Values never appear in SQL text: they travel through COPY and live in the staging table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_events import ColumnType, TableSpec
from connect_runner.domain.identifiers import qualified, quote_ident
from connect_runner.domain.plan import LoadPlan, MappedColumn
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.values import bad_value, cast, proof, sql_type

TARGET_SCHEMA = "custom"
STAGING_SCHEMA = "runner_stage"
# What Python's `str.strip()` removes (`str.isspace`), so values trimmed in SQL equal values trimmed while parsing.
WHITE_SPACE = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
SPACES = "E'" + "".join(f"\\u{ord(c):04x}" for c in WHITE_SPACE) + "'"


@dataclass(frozen=True)
class Staging:
    """Names of one attempt's staging tables; per attempt, so a lingering earlier attempt never shares them."""

    job_id: int
    run_id: int
    attempt: int

    @property
    def rows_name(self) -> str:
        """Unquoted name of the table holding the staged records."""
        return f"s_{self.job_id}_{self.run_id}_{self.attempt}"

    @property
    def rows(self) -> str:
        """The staged records: line number and the mapped fields as text (`c1`…)."""
        return qualified(STAGING_SCHEMA, self.rows_name)

    @property
    def rejects_name(self) -> str:
        """Unquoted name of the table holding rejected line numbers."""
        return f"{self.rows_name}_rej"

    @property
    def rejects(self) -> str:
        """Line numbers rejected so far, with their reasons."""
        return qualified(STAGING_SCHEMA, self.rejects_name)

    @property
    def run_pattern(self) -> str:
        """A LIKE pattern matching the staging tables of every attempt of this run."""
        return f"s\\_{self.job_id}\\_{self.run_id}\\_%"


def target(table: TableSpec) -> str:
    """The custom table's qualified, quoted name."""
    return qualified(TARGET_SCHEMA, table.name)


def create_table(table: TableSpec) -> str:
    """Idempotent DDL for a custom table and its schema."""
    columns = [f"{quote_ident(c.name)} {sql_type(c)}" for c in table.columns]
    keys = [quote_ident(_spelled(table, k)) for k in table.primary_key]
    body = ", ".join([*columns, f"PRIMARY KEY ({', '.join(keys)})"])
    return (
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(TARGET_SCHEMA)};\n"
        f"CREATE TABLE IF NOT EXISTS {target(table)} ({body})"
    )


def _spelled(table: TableSpec, name: str) -> str:
    column = table.column(name)
    return column.name if column is not None else name


def create_staging(staging: Staging, plan: LoadPlan) -> str:
    """Both staging tables: unlogged and unindexed, so COPY into them is as cheap as it gets."""
    return _create_staging(staging, "line_no bigint NOT NULL", [c.staging_name for c in plan.columns])


def create_copy_staging(staging: Staging, names: Sequence[str]) -> str:
    """Both staging tables, for a COPY of whole records (`LoadPlan.field_names`): `line_no` numbers the records
    in file order (1 = the first after the header), as COPY stores them."""
    return _create_staging(staging, "line_no bigint GENERATED ALWAYS AS IDENTITY", names)


def _create_staging(staging: Staging, line_no: str, names: Sequence[str]) -> str:
    fields = "".join(f", {name} text" for name in names)
    options = "WITH (autovacuum_enabled = false)"
    return (
        f"DROP TABLE IF EXISTS {staging.rows}, {staging.rejects};\n"
        f"CREATE UNLOGGED TABLE {staging.rows} ({line_no}{fields}) {options};\n"
        f"CREATE UNLOGGED TABLE {staging.rejects} (line_no bigint NOT NULL, reason text NOT NULL) {options}"
    )


def untrimmed(plan: LoadPlan, alias: str = "s") -> str:
    """True for a staged row holding a value with white space around it (COPY stores values as written)."""
    return " OR ".join(f"{alias}.{c.staging_name} <> btrim({alias}.{c.staging_name}, {SPACES})" for c in plan.columns)


def trim_staged(staging: Staging, plan: LoadPlan) -> str:
    """Trim the values of the rows COPY stored with white space around one (all blank → NULL), as parsing does."""
    trimmed = ", ".join(f"{c.staging_name} = NULLIF(btrim(s.{c.staging_name}, {SPACES}), '')" for c in plan.columns)
    return f"UPDATE {staging.rows} AS s SET {trimmed} WHERE {untrimmed(plan)}"


def drop_tables(names: Sequence[str]) -> str:
    """Drop staging tables by their unquoted names (found with `Staging.run_pattern`)."""
    return "DROP TABLE IF EXISTS " + ", ".join(qualified(STAGING_SCHEMA, n) for n in names)


def analyze(staging: Staging) -> str:
    """Statistics for the planner: the staged rows are joined with the target next."""
    return f"ANALYZE {staging.rows}"


def reject_reason(plan: LoadPlan) -> str:
    """One CASE naming the first reason a staged row cannot be loaded (keys first), or NULL."""
    branches = [f"WHEN s.{k.staging_name} IS NULL THEN '{RejectReason.MATCH_FIELD_EMPTY}'" for k in plan.keys]
    for column in plan.columns:
        check = bad_value(f"s.{column.staging_name}", column.column)
        if check is not None:
            branches.append(f"WHEN {check[0]} THEN '{check[1]}'")
    if not branches:
        return "NULL::text"
    return "CASE " + " ".join(branches) + " END"


def find_invalid(staging: Staging, plan: LoadPlan) -> str:
    """Line numbers and reasons of staged rows that cannot be loaded (a read-only, parallel-safe scan)."""
    return (
        f"SELECT line_no, reason FROM (SELECT s.line_no, {reject_reason(plan)} AS reason"
        f" FROM {staging.rows} s) v WHERE reason IS NOT NULL"
    )


def prove_valid(staging: Staging, plan: LoadPlan) -> str | None:
    """One parallel aggregate: true only if every staged row passes every check (see `values.proof`);
    it may raise instead of returning false. None: nothing to prove (keys present is all there is to check)."""
    keys = [f"s.{k.staging_name} IS NOT NULL" for k in plan.keys]
    proofs = [p for c in plan.columns if (p := proof(f"s.{c.staging_name}", c.column)) is not None]
    if not proofs and not keys:
        return None
    return f"SELECT bool_and({' AND '.join([*keys, *proofs])}) AS proven FROM {staging.rows} s"


def has_duplicates(staging: Staging, plan: LoadPlan) -> str:
    """Whether any key (as typed) repeats: a sort, far cheaper than grouping when (as usual) none does.

    Text keys are sorted bytewise (`"C"`): equal is equal in every deterministic collation, and the database's
    own collation would make the sort several times slower."""
    keys = [_typed(k) + (' COLLATE "C"' if k.column.type is ColumnType.TEXT else "") for k in plan.keys]
    distinct = keys[0] if len(keys) == 1 else f"ROW({', '.join(keys)})"
    return f"SELECT count(*) > count(DISTINCT {distinct}) AS repeated FROM {staging.rows} s"


def _typed(column: MappedColumn, alias: str = "s") -> str:
    return cast(f"{alias}.{column.staging_name}", column.column)


def remove_rejected(staging: Staging) -> str:
    """Delete rejected rows from staging, so later statements only ever see (and cast) valid values.

    Filtering them out inside each statement would not be enough: the planner may evaluate a join clause
    holding a cast before the filter that excludes the row, and one bad cast fails the whole statement.
    """
    return f"DELETE FROM {staging.rows} AS s USING {staging.rejects} AS r WHERE s.line_no = r.line_no"


def find_duplicates(staging: Staging, plan: LoadPlan) -> str:
    """Lines whose key (as typed) appears again later in the file: the last one wins (valid rows only)."""
    keys = [_typed(k) for k in plan.keys]
    listed = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    grouped = ", ".join(str(i + 1) for i in range(len(keys)))
    joined = " AND ".join(f"d.k{i} = {k}" for i, k in enumerate(keys))
    return (
        f"WITH d AS (SELECT {listed}, max(s.line_no) AS keep FROM {staging.rows} s"
        f" GROUP BY {grouped} HAVING count(*) > 1)"
        f" SELECT s.line_no FROM {staging.rows} s JOIN d ON {joined} WHERE s.line_no < d.keep"
    )


def source(staging: Staging, plan: LoadPlan, line_no: bool = False) -> str:
    """The staged rows (only valid ones remain after `remove_rejected`), typed and named like the target's."""
    typed = [f"{_typed(c)} AS {quote_ident(c.column.name)}" for c in plan.columns]
    if line_no:
        typed.insert(0, "s.line_no")
    return f"SELECT {', '.join(typed)} FROM {staging.rows} s"


def _key_match(plan: LoadPlan, left: str, right: str) -> str:
    return " AND ".join(
        f"{left}.{quote_ident(k.column.name)} = {right}.{quote_ident(k.column.name)}" for k in plan.keys
    )


def lock_target(plan: LoadPlan) -> str:
    """Keep other writers out (readers go on seeing the committed rows) until the load commits."""
    return f"LOCK TABLE {target(plan.table)} IN SHARE ROW EXCLUSIVE MODE"


def find_existing(staging: Staging, plan: LoadPlan) -> str:
    """Lines whose key already exists in the target (append mode rejects them)."""
    return (
        f"SELECT s.line_no FROM ({source(staging, plan, line_no=True)}) s"
        f" JOIN {target(plan.table)} t ON {_key_match(plan, 't', 's')}"
    )


def update_matched(staging: Staging, plan: LoadPlan) -> str | None:
    """Replace the mapped columns of matching rows, skipping rows that would not change; None: nothing to set."""
    if not plan.values:
        return None
    names = [quote_ident(c.column.name) for c in plan.values]
    assignments = ", ".join(f"{n} = s.{n}" for n in names)
    current = ", ".join(f"t.{n}" for n in names)
    incoming = ", ".join(f"s.{n}" for n in names)
    return (
        f"UPDATE {target(plan.table)} AS t SET {assignments} FROM ({source(staging, plan)}) AS s"
        f" WHERE {_key_match(plan, 't', 's')} AND ({current}) IS DISTINCT FROM ({incoming})"
    )


def upsert(staging: Staging, plan: LoadPlan) -> str:
    """Merge in one statement; yields the inserted and updated counts (unchanged rows are not returned).

    `xmax = 0` tells a freshly inserted row from an updated one. A key repeated within the staged rows would
    make the statement fail ("cannot affect row a second time"), which is why duplicates are removed first.
    """
    names = [quote_ident(c.column.name) for c in plan.columns]
    keys = ", ".join(quote_ident(k.column.name) for k in plan.keys)
    action = "DO NOTHING"
    if plan.values:
        values = [quote_ident(c.column.name) for c in plan.values]
        assignments = ", ".join(f"{n} = EXCLUDED.{n}" for n in values)
        current = ", ".join(f"t.{n}" for n in values)
        incoming = ", ".join(f"EXCLUDED.{n}" for n in values)
        action = f"DO UPDATE SET {assignments} WHERE ({current}) IS DISTINCT FROM ({incoming})"
    listed = ", ".join(names)
    return (
        f"WITH m AS (INSERT INTO {target(plan.table)} AS t ({listed})"
        f" SELECT {listed} FROM ({source(staging, plan)}) AS s"
        f" ON CONFLICT ({keys}) {action} RETURNING (t.xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM m"
    )


def insert_unmatched(staging: Staging, plan: LoadPlan) -> str:
    """Insert the rows whose key is not in the target yet."""
    names = ", ".join(quote_ident(c.column.name) for c in plan.columns)
    table = target(plan.table)
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} FROM ({source(staging, plan)}) AS s"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {_key_match(plan, 't', 's')})"
    )


def insert_all(staging: Staging, plan: LoadPlan) -> str:
    """Insert every valid row (overwrite mode, after `delete_all`)."""
    names = ", ".join(quote_ident(c.column.name) for c in plan.columns)
    return f"INSERT INTO {target(plan.table)} ({names}) SELECT {names} FROM ({source(staging, plan)}) AS s"


def delete_all(plan: LoadPlan) -> str:
    """Empty the target inside the load transaction: readers keep the old rows until it commits.

    DELETE rather than TRUNCATE, because TRUNCATE's ACCESS EXCLUSIVE lock would block every reader.
    """
    return f"DELETE FROM {target(plan.table)}"


def affected_rows(status: str) -> int:
    """The row count in a command status such as `INSERT 0 12` or `UPDATE 3`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
