"""SQL text: identifiers are quoted exactly, values never appear, each write mode picks its statements."""

from __future__ import annotations

import sys

import pytest

from connect_events import ColumnType, ImportCustomTable, TableSpec
from connect_runner.domain.identifiers import InvalidIdentifierError, check_identifier, qualified, quote_ident
from connect_runner.domain.plan import LoadPlan, resolve_by_header
from connect_runner.domain.statements import (
    SPACES,
    WHITE_SPACE,
    Staging,
    affected_rows,
    create_copy_staging,
    create_staging,
    create_table,
    delete_all,
    drop_tables,
    find_duplicates,
    find_existing,
    find_invalid,
    has_duplicates,
    insert_all,
    insert_unmatched,
    lock_target,
    prove_valid,
    reject_reason,
    remove_rejected,
    trim_staged,
    update_matched,
    upsert,
)
from connect_runner.domain.writes import WriteSteps, run_counts, write_steps
from tests.unit.runner.runner_builders import column, location, mapping

ODD = TableSpec(
    name='My "T"',
    columns=(column("Id", ColumnType.INTEGER), column('na"me', max_length=20), column("Score", ColumnType.NUMBER)),
    primary_key=("id",),
)
STAGING = Staging(job_id=12, run_id=3, attempt=2)


def _plan(table: TableSpec = ODD) -> LoadPlan:
    return resolve_by_header(
        ["id", "name", "score"], mapping(("id", "Id"), ("name", 'na"me'), ("score", "score")), table, "f"
    )


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("plain", '"plain"'), ('a"b', '"a""b"'), ("Mixed Case", '"Mixed Case"'), ("drop;--", '"drop;--"')],
)
def test_identifiers_are_quoted_with_quotes_doubled(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted
    assert qualified("custom", name) == f'"custom".{quoted}'


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "é" * 32])
def test_identifiers_postgresql_cannot_hold_exactly_are_refused(name: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        check_identifier(name)


def test_create_table_quotes_every_name_and_maps_types() -> None:
    table = TableSpec(
        name='My "T"',
        columns=(
            column("Id", ColumnType.INTEGER),
            column("t", max_length=5),
            column("u"),
            column("n", ColumnType.NUMBER, precision=10, scale=2),
            column("m", ColumnType.NUMBER),
            column("b", ColumnType.BOOLEAN),
            column("d", ColumnType.DATE),
            column("ts", ColumnType.TIMESTAMP),
        ),
        primary_key=("id", "T"),
    )
    assert create_table(table) == (
        'CREATE SCHEMA IF NOT EXISTS "custom";\n'
        'CREATE TABLE IF NOT EXISTS "custom"."My ""T""" ("Id" bigint, "t" varchar(5), "u" text, "n" numeric(10,2),'
        ' "m" numeric, "b" boolean, "d" date, "ts" timestamp, PRIMARY KEY ("Id", "t"))'
    )


def test_staging_tables_are_named_by_numbers_only_and_hold_text() -> None:
    assert STAGING.rows == '"runner_stage"."s_12_3_2"'
    assert STAGING.rejects == '"runner_stage"."s_12_3_2_rej"'
    assert STAGING.run_pattern == "s\\_12\\_3\\_%"
    assert create_staging(STAGING, _plan()) == (
        'DROP TABLE IF EXISTS "runner_stage"."s_12_3_2", "runner_stage"."s_12_3_2_rej";\n'
        'CREATE UNLOGGED TABLE "runner_stage"."s_12_3_2" (line_no bigint NOT NULL, c1 text, c2 text, c3 text)'
        " WITH (autovacuum_enabled = false);\n"
        'CREATE UNLOGGED TABLE "runner_stage"."s_12_3_2_rej" (line_no bigint NOT NULL, reason text NOT NULL)'
        " WITH (autovacuum_enabled = false)"
    )
    assert drop_tables(["s_1_1_1", "s_1_1_1_rej"]) == (
        'DROP TABLE IF EXISTS "runner_stage"."s_1_1_1", "runner_stage"."s_1_1_1_rej"'
    )


def test_a_copy_stages_every_field_of_the_file_numbered_by_an_identity() -> None:
    plan = resolve_by_header(["name", "x", "id"], mapping(("id", "Id"), ("name", 'na"me')), ODD, "f")

    assert plan.field_names == ("c2", "f2", "c1")
    assert create_copy_staging(STAGING, ("c2", "f2", "c1")).splitlines()[1] == (
        'CREATE UNLOGGED TABLE "runner_stage"."s_12_3_2" (line_no bigint GENERATED ALWAYS AS IDENTITY,'
        " c2 text, f2 text, c1 text) WITH (autovacuum_enabled = false);"
    )


def test_a_field_mapped_twice_cannot_be_copied() -> None:
    table = TableSpec(name="t", columns=(column("a"), column("b")), primary_key=("a",))

    assert resolve_by_header(["x", "y"], mapping(("x", "a"), ("x", "b")), table, "f").field_names is None


def test_trimming_in_sql_removes_what_str_strip_removes() -> None:
    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == WHITE_SPACE
    assert trim_staged(STAGING, _plan()) == (
        f'UPDATE "runner_stage"."s_12_3_2" AS s SET c1 = NULLIF(btrim(s.c1, {SPACES}), \'\'),'
        f" c2 = NULLIF(btrim(s.c2, {SPACES}), ''), c3 = NULLIF(btrim(s.c3, {SPACES}), '')"
        f" WHERE s.c1 <> btrim(s.c1, {SPACES}) OR s.c2 <> btrim(s.c2, {SPACES}) OR s.c3 <> btrim(s.c3, {SPACES})"
    )


def test_reject_reason_checks_keys_first_then_columns_in_mapping_order() -> None:
    sql = reject_reason(_plan())
    assert sql.startswith("CASE WHEN s.c1 IS NULL THEN 'MATCH_FIELD_EMPTY' WHEN CASE WHEN s.c1 ~ ")
    positions = [sql.index(part) for part in ("'MATCH_FIELD_EMPTY'", "'INVALID_DATA_FORMAT'", "char_length(s.c2) > 20")]
    assert positions == sorted(positions)
    assert "INVALID_NUMBER" in sql
    assert find_invalid(STAGING, _plan()).endswith('FROM "runner_stage"."s_12_3_2" s) v WHERE reason IS NOT NULL')


def test_an_unconstrained_text_column_has_no_check() -> None:
    table = TableSpec(name="t", columns=(column("k"), column("v")), primary_key=("k",))
    plan = resolve_by_header(["k", "v"], mapping("k", "v"), table, "f")
    assert reject_reason(plan) == "CASE WHEN s.c1 IS NULL THEN 'MATCH_FIELD_EMPTY' END"


def test_merge_statements() -> None:
    plan = _plan()
    assert update_matched(STAGING, plan) == (
        'UPDATE "custom"."My ""T""" AS t SET "na""me" = s."na""me", "Score" = s."Score"'
        ' FROM (SELECT s.c1::bigint AS "Id", s.c2 AS "na""me", s.c3::numeric AS "Score"'
        ' FROM "runner_stage"."s_12_3_2" s) AS s'
        ' WHERE t."Id" = s."Id" AND (t."na""me", t."Score") IS DISTINCT FROM (s."na""me", s."Score")'
    )
    assert insert_unmatched(STAGING, plan) == (
        'INSERT INTO "custom"."My ""T""" ("Id", "na""me", "Score") SELECT "Id", "na""me", "Score"'
        ' FROM (SELECT s.c1::bigint AS "Id", s.c2 AS "na""me", s.c3::numeric AS "Score"'
        ' FROM "runner_stage"."s_12_3_2" s) AS s'
        ' WHERE NOT EXISTS (SELECT 1 FROM "custom"."My ""T""" AS t WHERE t."Id" = s."Id")'
    )
    assert lock_target(plan) == 'LOCK TABLE "custom"."My ""T""" IN SHARE ROW EXCLUSIVE MODE'


def test_upsert_counts_inserts_and_updates_and_skips_unchanged_rows() -> None:
    assert upsert(STAGING, _plan()) == (
        'WITH m AS (INSERT INTO "custom"."My ""T""" AS t ("Id", "na""me", "Score")'
        ' SELECT "Id", "na""me", "Score" FROM (SELECT s.c1::bigint AS "Id", s.c2 AS "na""me", s.c3::numeric AS "Score"'
        ' FROM "runner_stage"."s_12_3_2" s) AS s ON CONFLICT ("Id") DO UPDATE SET "na""me" = EXCLUDED."na""me",'
        ' "Score" = EXCLUDED."Score" WHERE (t."na""me", t."Score")'
        ' IS DISTINCT FROM (EXCLUDED."na""me", EXCLUDED."Score")'
        " RETURNING (t.xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM m"
    )


def test_keys_only_mapping_has_nothing_to_update() -> None:
    plan = resolve_by_header(["id"], mapping(("id", "Id")), ODD, "f")
    assert update_matched(STAGING, plan) is None
    assert ' ON CONFLICT ("Id") DO NOTHING RETURNING' in upsert(STAGING, plan)


def test_the_cheap_proof_and_duplicate_test() -> None:
    proof = prove_valid(STAGING, _plan())
    assert proof is not None
    assert proof.startswith("SELECT bool_and(s.c1 IS NOT NULL AND (s.c1 IS NULL OR s.c1::bigint::text = s.c1) AND ")
    assert "(s.c2 IS NULL OR char_length(s.c2) <= 20)" in proof
    assert proof.endswith(' AS proven FROM "runner_stage"."s_12_3_2" s')
    assert has_duplicates(STAGING, _plan()) == (
        'SELECT count(*) > count(DISTINCT s.c1::bigint) AS repeated FROM "runner_stage"."s_12_3_2" s'
    )
    two_keys = TableSpec(name="t", columns=(column("a"), column("b", ColumnType.DATE)), primary_key=("a", "b"))
    plan = resolve_by_header(["a", "b"], mapping("a", "b"), two_keys, "f")
    assert 'count(DISTINCT ROW(s.c1 COLLATE "C", s.c2::date))' in has_duplicates(STAGING, plan)


def test_duplicates_and_rejected_rows() -> None:
    assert find_duplicates(STAGING, _plan()) == (
        'WITH d AS (SELECT s.c1::bigint AS k0, max(s.line_no) AS keep FROM "runner_stage"."s_12_3_2" s'
        " GROUP BY 1 HAVING count(*) > 1)"
        ' SELECT s.line_no FROM "runner_stage"."s_12_3_2" s JOIN d ON d.k0 = s.c1::bigint WHERE s.line_no < d.keep'
    )
    assert remove_rejected(STAGING) == (
        'DELETE FROM "runner_stage"."s_12_3_2" AS s USING "runner_stage"."s_12_3_2_rej" AS r'
        " WHERE s.line_no = r.line_no"
    )


def _settings(**options: object) -> ImportCustomTable:
    return ImportCustomTable(source=location("/x"), table="t", mapping=mapping("id"), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, WriteSteps(upsert=upsert(STAGING, _plan()))),
        ({"insert_on_no_match": False}, WriteSteps(update=update_matched(STAGING, _plan()))),
        ({"update_on_match": False}, WriteSteps(insert=insert_unmatched(STAGING, _plan()))),
        ({"update_on_match": False, "insert_on_no_match": False}, WriteSteps()),
        (
            {"write_mode": "append"},
            WriteSteps(reject_existing=find_existing(STAGING, _plan()), insert=insert_unmatched(STAGING, _plan())),
        ),
        ({"write_mode": "overwrite"}, WriteSteps(delete=delete_all(_plan()), insert=insert_all(STAGING, _plan()))),
    ],
)
def test_write_steps_per_mode(options: dict[str, object], expected: WriteSteps) -> None:
    assert write_steps(STAGING, _plan(), _settings(**options)) == expected


def test_overwrite_deletes_instead_of_truncating() -> None:
    assert delete_all(_plan()) == 'DELETE FROM "custom"."My ""T"""'


@pytest.mark.parametrize(
    ("status", "count"), [("INSERT 0 12", 12), ("UPDATE 3", 3), ("DELETE 0", 0), ("LOCK TABLE", 0)]
)
def test_affected_rows(status: str, count: int) -> None:
    assert affected_rows(status) == count


def test_counts_add_up_to_rows_read() -> None:
    counts = run_counts(rows_read=10, rejected=2, inserted=3, updated=4, bytes_transferred=99)
    assert (counts.unchanged, counts.rejected, counts.bytes_transferred) == (1, 2, 99)
