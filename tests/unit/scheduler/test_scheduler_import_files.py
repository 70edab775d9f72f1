"""The rules of where an import reads its file and what happens around it (spec §2, §4.1, §4.2, §4.5): hosted
and external paths share one rule, companion files, the archive folder, limits, column formats and the decimal
separator. Each error names its field and never quotes the value."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import ColumnMapping, HostedLocation, ImportCustomTable, JobDefinition, TableSpec
from connect_events.values import CONTROL
from connect_scheduler.domain.validation import validate_job
from tests.unit.scheduler.scheduler_builders import column, customers, definition, source


def with_settings(**updates: Any) -> JobDefinition:
    """The builder's definition with settings fields replaced (validated as a command's would be)."""
    job = definition()
    settings = ImportCustomTable.model_validate({**job.settings.model_dump(), **updates})
    return job.model_copy(update={"settings": settings})


def hosted(path: str, **updates: Any) -> JobDefinition:
    return with_settings(source=HostedLocation(path=path), **updates)


def errors(job: JobDefinition, table: TableSpec | None = None) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in validate_job(job, table or customers())]


VALID_PATHS = ["upload/customers.csv", "customers.csv", "upload/c_%YYYY%%MM%%DD%.csv", "upload/*.csv.gz", "a/b/x*y"]


@pytest.mark.parametrize("path", VALID_PATHS)
def test_valid_hosted_paths(path: str) -> None:
    assert errors(hosted(path)) == []


BAD_HOSTED_PATHS = {
    "absolute": ("/upload/x.csv", "the path must be relative to the account's root, not start with '/'"),
    "dot-dot": ("upload/../x.csv", "the path may not contain empty, '.' or '..' segments"),
    "empty segment": ("upload//x.csv", "the path may not contain empty, '.' or '..' segments"),
    "backslash": ("upload\\x.csv", "the path may not contain a backslash"),
    "folder": ("upload/", "must end with a file name, not a folder"),
    "star in a folder": ("up*/x.csv", "`*` may appear in the file name only, not in its folders"),
    "empty": ("", "path is required"),
    "blank": ("  ", "path is required"),
    "line break": ("upload/a\nb.csv", CONTROL),
}


@pytest.mark.parametrize(("path", "message"), BAD_HOSTED_PATHS.values(), ids=BAD_HOSTED_PATHS.keys())
def test_bad_hosted_paths_are_named_without_quoting_them(path: str, message: str) -> None:
    assert errors(hosted(path)) == [("settings.source.path", message)]


def test_external_paths_follow_the_same_file_name_rule() -> None:
    assert errors(definition(path="/data/in/c_%YYYY%*.csv")) == []
    assert errors(definition(path="../in/x.csv")) == [], "the external server resolves its own paths"
    assert errors(definition(path="in/")) == [("settings.source.path", "must end with a file name, not a folder")]
    assert errors(definition(path="in*/x.csv")) == [
        ("settings.source.path", "`*` may appear in the file name only, not in its folders")
    ]


def test_companion_files_and_timeout_within_bounds_pass() -> None:
    rules = {"count_file": "cnt", "ready_file": "Ready_1-" + "x" * 8, "ready_timeout_s": 86400}
    assert errors(with_settings(files=rules)) == []
    assert errors(with_settings(files={"ready_file": "ok", "ready_timeout_s": 1})) == []


@pytest.mark.parametrize("extension", ["", ".cnt", "x" * 17, "c n t", "cnt/x", "çnt"])
@pytest.mark.parametrize("field", ["count_file", "ready_file"])
def test_a_companion_extension_is_a_short_plain_word(field: str, extension: str) -> None:
    assert errors(with_settings(files={field: extension})) == [
        (f"settings.files.{field}", "give the extension only (no dot): 1 to 16 letters, digits, _ or -")
    ]


def test_count_and_ready_files_differ_whatever_their_case() -> None:
    found = errors(with_settings(files={"count_file": "cnt", "ready_file": "CNT"}))
    assert found == [("settings.files.ready_file", "must differ from the count file's")]


@pytest.mark.parametrize("timeout", [0, -1, 86401])
def test_the_ready_timeout_is_a_second_to_a_day(timeout: int) -> None:
    found = errors(with_settings(files={"ready_timeout_s": timeout}))
    assert found == [("settings.files.ready_timeout_s", "between 1 and 86400 seconds")]


@pytest.mark.parametrize(
    ("source_path", "folder"),
    [("upload/customers.csv", "archive"), ("upload/customers.csv", "upload/done/"), ("x.csv", "archive/x")],
)
def test_an_archive_folder_elsewhere_passes(source_path: str, folder: str) -> None:
    assert errors(hosted(source_path, files={"archive_folder": folder})) == []
    assert errors(with_settings(source=source(path=source_path), files={"archive_folder": folder})) == []


SAME_FOLDER = "must not be the folder the source file is read from"
BAD_ARCHIVES = {
    "the hosted source's folder": (HostedLocation(path="upload/*.csv"), "upload", SAME_FOLDER),
    "with a trailing slash": (HostedLocation(path="upload/in/x.csv"), "upload/in/", SAME_FOLDER),
    "the external source's folder": (source(path="./in//x.csv"), "in", SAME_FOLDER),
    "absolute": (
        HostedLocation(path="upload/x.csv"),
        "/archive",
        "the path must be relative to the account's root, not start with '/'",
    ),
    "dot-dot": (source(path="x.csv"), "archive/..", "the path may not contain empty, '.' or '..' segments"),
    "empty": (source(path="x.csv"), "", "the path is empty"),
    "control character": (source(path="x.csv"), "arch\nive", CONTROL),
}


@pytest.mark.parametrize(("location", "folder", "message"), BAD_ARCHIVES.values(), ids=BAD_ARCHIVES.keys())
def test_bad_archive_folders_are_named(location: Any, folder: str, message: str) -> None:
    found = errors(with_settings(source=location, files={"archive_folder": folder}))
    assert found == [("settings.files.archive_folder", message)]


def test_an_absolute_external_source_cannot_share_a_relative_archive_folder() -> None:
    assert errors(with_settings(source=source(path="/in/x.csv"), files={"archive_folder": "in"})) == []


@pytest.mark.parametrize(
    "limits",
    [
        {},
        {"max_rejected_rows": 0, "max_rejected_percent": 0, "min_rows": 0, "max_rows": 0},
        {"max_rejected_rows": 10**9, "max_rejected_percent": 100, "min_rows": 5, "max_rows": 5},
        {"max_rejected_percent": 2.5},
    ],
)
def test_limits_within_bounds_pass(limits: dict[str, Any]) -> None:
    assert errors(with_settings(limits=limits)) == []


BAD_LIMITS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "negative counts": (
        {"max_rejected_rows": -1, "min_rows": -1, "max_rows": -1},
        [
            ("settings.limits.max_rejected_rows", "must be 0 or more"),
            ("settings.limits.min_rows", "must be 0 or more"),
            ("settings.limits.max_rows", "must be 0 or more"),
        ],
    ),
    "percent above 100": (
        {"max_rejected_percent": 100.5},
        [("settings.limits.max_rejected_percent", "between 0 and 100")],
    ),
    "negative percent": (
        {"max_rejected_percent": -0.1},
        [("settings.limits.max_rejected_percent", "between 0 and 100")],
    ),
    "NaN percent": (
        {"max_rejected_percent": float("nan")},
        [("settings.limits.max_rejected_percent", "between 0 and 100")],
    ),
    "min above max": (
        {"min_rows": 11, "max_rows": 10},
        [("settings.limits.min_rows", "must not be more than max_rows")],
    ),
}


@pytest.mark.parametrize(("limits", "expected"), BAD_LIMITS.values(), ids=BAD_LIMITS.keys())
def test_bad_limits_are_named(limits: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(with_settings(limits=limits)) == expected


def events() -> TableSpec:
    columns = (column("id", "integer"), column("day", "date"), column("at", "timestamp"), column("note"))
    return TableSpec(name="Events", columns=columns, primary_key=("id",))


def formatted(*mappings: tuple[str, str, str | None]) -> JobDefinition:
    mapping = [ColumnMapping(source="id", target="id")]
    mapping += [ColumnMapping(source=s, target=t, format=f) for s, t, f in mappings]
    return with_settings(table="Events", mapping=mapping)


def test_formats_fit_their_column_types() -> None:
    job = formatted(("d", "Day", "DD/MM/YYYY"), ("t", "at", "MON DD YYYY HH24:MI:SS.FF"), ("n", "note", None))
    assert errors(job, events()) == []


def test_a_format_is_checked_against_its_columns_type() -> None:
    job = formatted(
        ("d", "day", "DD/MM/YYYY HH24:MI"),
        ("t", "at", "YYYY-MM-DD SS"),
        ("n", "note", "DD/MM/YYYY"),
        ("x", "id2", "DD/MM/YYYY"),
        ("e", "day2", "QQ"),
    )
    table = events().model_copy(
        update={"columns": (*events().columns, column("id2", "integer"), column("day2", "date"))}
    )
    assert errors(job, table) == [
        ("settings.mapping[1].format", "a date format holds no time (HH24, MI, SS, FF)"),
        ("settings.mapping[2].format", "SS needs MI"),
        ("settings.mapping[3].format", "a format applies to date and timestamp columns only"),
        ("settings.mapping[4].format", "a format applies to date and timestamp columns only"),
        (
            "settings.mapping[5].format",
            "only YYYY, MM, MON, DD, HH24 (or HH), MI, SS, FF and the separators space - / . : , T are allowed",
        ),
    ]


def test_a_format_on_an_unknown_column_gets_only_the_columns_error() -> None:
    assert [f for f, _ in errors(formatted(("d", "nope", "DD/MM/YYYY HH24")), events())] == [
        "settings.mapping[1].target"
    ]


def test_the_decimal_separator_differs_from_the_delimiter() -> None:
    assert errors(with_settings(file={"delimiter": ";", "decimal_separator": ","})) == []
    found = errors(with_settings(file={"delimiter": ",", "decimal_separator": ","}))
    assert found == [("settings.file.decimal_separator", "must differ from the delimiter")]


def test_every_error_comes_at_once_in_field_order() -> None:
    job = hosted(
        "/x.csv",
        file={"decimal_separator": ","},
        mapping=[ColumnMapping(source="id", target="id"), ColumnMapping(source="n", target="note", format="DD")],
        table="Events",
        files={"count_file": ".cnt", "ready_timeout_s": 0, "archive_folder": ".."},
        limits={"max_rejected_percent": 101, "min_rows": 2, "max_rows": 1},
    )
    assert [f for f, _ in errors(job, events())] == [
        "settings.source.path",
        "settings.file.decimal_separator",
        "settings.mapping[1].format",
        "settings.files.count_file",
        "settings.files.ready_timeout_s",
        "settings.files.archive_folder",
        "settings.limits.max_rejected_percent",
        "settings.limits.min_rows",
    ]
