"""Analytics data feed deliveries: which are complete, what a manifest promises (and every way it can be wrong),
and `hit_data.tsv` read back exactly as written whatever the escapes and wherever the chunks are cut."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_runner.domain.feed_hits import (
    HitDataError,
    HitFilter,
    HitReader,
    column_headers,
    record_line,
    split_fields,
)
from connect_runner.domain.feed_manifest import (
    Delivery,
    FeedFile,
    Granularity,
    ManifestError,
    fin_files,
    identity,
    parse_manifest,
    ready_deliveries,
)

DIGEST_A = "af6de42d8b945d4ec1cf283600853080"
DIGEST_B = "9c70bf783cb3d0095a4836904b72c991"
MANIFEST = f"""Datafeed-Manifest-Version: 1.0
 Lookup-Files: 1
 Data-Files: 2
 Total-Records: 611

 Lookup-File: shop_2026-11-28-lookup_data.tar.gz
 MD5-Digest: {DIGEST_A}
 File-Size: 63750

 Data-File: 01-shop_2026-11-28.tsv.gz
 MD5-Digest: {DIGEST_B.upper()}
 File-Size: 122534
 Record-Count: 600

 Data-File: 02-shop_2026-11-28.tsv.gz
 MD5-Digest: {DIGEST_B}
 File-Size: 1234
 Record-Count: 11
"""


def test_a_manifest_with_leading_blanks_lists_its_files() -> None:
    manifest = parse_manifest(MANIFEST, "shop_2026-11-28.txt")
    assert manifest.version == "1.0" and manifest.total_records == 611
    assert manifest.lookup_files == (FeedFile("shop_2026-11-28-lookup_data.tar.gz", DIGEST_A, 63750, None),)
    assert [(f.name, f.md5, f.records) for f in manifest.data_files] == [
        ("01-shop_2026-11-28.tsv.gz", DIGEST_B, 600),
        ("02-shop_2026-11-28.tsv.gz", DIGEST_B, 11),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Total-Records: 611", "Total-Records: 612"), "line 4: Total-Records says 612, the data files hold 611"),
        ((" Data-Files: 2", " Data-Files: 3"), "line 3: Data-Files says 3, the manifest lists 2"),
        ((" Lookup-Files: 1", " Lookup-Files: one"), "line 2: Lookup-Files is not a whole number"),
        (
            (f"MD5-Digest: {DIGEST_A}", "MD5-Digest: af6de42d8b945d4ec1cf28360085308"),
            "line 7: MD5-Digest of shop_2026-11-28-lookup_data.tar.gz is not 32 hexadecimal digits",
        ),
        (
            (" File-Size: 1234", " File-Size: -1"),
            "line 17: File-Size of 02-shop_2026-11-28.tsv.gz is not a whole number",
        ),
        ((" Record-Count: 11\n", ""), "Data-File 02-shop_2026-11-28.tsv.gz has no Record-Count"),
        (("Datafeed-Manifest-Version: 1.0", "Version 1.0"), "line 1: not a `key: value` line"),
        (
            ("Datafeed-Manifest-Version: 1.0", "Datafeed-Manifest-Version:"),
            "the header has no Datafeed-Manifest-Version",
        ),
        (("Data-File: 02-shop", "Data-File: ../02-shop"), "line 15: Data-File is not a plain file name"),
        (("Data-File: 02-shop_2026-11-28.tsv.gz", "Data-File: 01-shop_2026-11-28.tsv.gz"), "a file is listed twice"),
    ],
)
def test_a_manifest_that_cannot_be_trusted_is_refused_naming_what_is_wrong(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ManifestError) as refused:
        parse_manifest(MANIFEST.replace(*change), "shop_2026-11-28.txt")
    separator = " " if message.startswith("line ") else ": "
    assert str(refused.value) == f"shop_2026-11-28.txt{separator}{message}"


def test_complete_deliveries_are_found_in_order_and_a_manifest_wins_over_a_fin() -> None:
    names = [
        "shop_2026-11-29.txt",
        "01-shop_2026-11-29.tsv.gz",
        "shop_2026-11-27.fin",
        "shop_2026-11-28.fin",
        "shop_2026-11-28.txt",
        "shop_2026-11-30-lookup_data.tar.gz",  # no manifest yet: still arriving
        "other_2026-11-26.txt",
        "shop_2026-02-30.txt",  # not a date
    ]
    found = ready_deliveries(names, "shop", Granularity.DAILY)
    assert [(d.key, d.marker) for d in found] == [
        ("shop_2026-11-27", "shop_2026-11-27.fin"),
        ("shop_2026-11-28", "shop_2026-11-28.txt"),
        ("shop_2026-11-29", "shop_2026-11-29.txt"),
    ]
    hourly = ready_deliveries(
        ["shop_2026-11-28-13.txt", "shop_2026-11-28-02.txt", "shop_2026-11-28-24.txt"], "shop", Granularity.HOURLY
    )
    assert [d.key for d in hourly] == ["shop_2026-11-28-02", "shop_2026-11-28-13"]
    assert hourly[0] == Delivery(date(2026, 11, 28), 2, "shop", "shop_2026-11-28-02.txt")
    assert ready_deliveries(["shop_2026-11-28-13.txt"], "shop", Granularity.DAILY) == []


def test_column_headers_name_every_column_once() -> None:
    assert column_headers("accept_language\tbrowser\texclude_hit\n") == ["accept_language", "browser", "exclude_hit"]
    with pytest.raises(HitDataError, match="named twice"):
        column_headers("a\tb\ta\n")
    with pytest.raises(HitDataError, match="must name every column"):
        column_headers("a\t\tb\n")


VALUES = st.text(alphabet=st.sampled_from(["a", "é", "ÿ", "\t", "\n", "\\", " ", "x", "\r"]), max_size=8)


@settings(max_examples=300)
@given(st.lists(st.lists(VALUES, min_size=3, max_size=3), max_size=12), st.integers(min_value=1, max_value=9))
def test_hit_data_reads_back_as_written_wherever_the_chunks_are_cut(rows: list[list[str]], size: int) -> None:
    rows = [r for r in rows if not r[-1].endswith("\r")]  # a trailing CR is taken as a CRLF line end
    data = b"".join(record_line(r) for r in rows)
    reader = HitReader(3, "hit_data.tsv")
    read = [fields for start in range(0, len(data), size) for _, fields in reader.feed(data[start : start + size])]
    read += [fields for _, fields in reader.end()]
    assert read == rows
    assert reader.records == len(rows)


def test_records_are_numbered_by_their_first_line_and_a_wrong_field_count_names_it() -> None:
    data = record_line(["1", "two\nlines", "x"]) + record_line(["2", "b", "c"]) + b"3\tonly two\n"
    reader = HitReader(3, "hit_data.tsv")
    read = reader.feed(data)
    assert next(read) == (1, ["1", "two\nlines", "x"])
    assert next(read) == (3, ["2", "b", "c"])
    with pytest.raises(HitDataError, match=r"hit_data.tsv line 4: 2 fields where column_headers.tsv names 3"):
        next(read)


def test_a_last_record_without_its_newline_is_read() -> None:
    reader = HitReader(2, "hit_data.tsv")
    assert list(reader.feed(b"a\tb\nc\td")) == [(1, ["a", "b"])]
    assert list(reader.end()) == [(2, ["c", "d"])]


def test_escapes_are_undone_and_latin_1_is_decoded() -> None:
    assert split_fields("a\\\tb\tc\\\\\td\\\ne") == ["a\tb", "c\\", "d\ne"]
    reader = HitReader(1, "hit_data.tsv")
    assert list(reader.feed("Zürich café\n".encode("iso-8859-1"))) == [(1, ["Zürich café"])]


@pytest.mark.parametrize(
    ("hit", "drop_sources", "reason"),
    [
        ({"exclude_hit": "0", "hit_source": "1"}, True, None),
        ({"exclude_hit": "", "hit_source": "1"}, True, None),
        ({"exclude_hit": "3", "hit_source": "1"}, False, "EXCLUDED_HIT"),
        ({"exclude_hit": "0", "hit_source": "5"}, False, None),
        ({"exclude_hit": "0", "hit_source": "5"}, True, "DATA_SOURCE_HIT"),
        ({"exclude_hit": "0", "hit_source": "9"}, True, "DATA_SOURCE_HIT"),
        ({"exclude_hit": "1", "hit_source": "8"}, True, "EXCLUDED_HIT"),
        ({}, True, None),
    ],
)
def test_excluded_hits_and_optionally_data_source_rows_are_filtered(
    hit: dict[str, str], drop_sources: bool, reason: str | None
) -> None:
    assert (
        HitFilter(drop_data_sources=drop_sources).reason(hit.get("exclude_hit", ""), hit.get("hit_source", ""))
        == reason
    )


def test_a_fin_delivery_finds_its_files_by_their_documented_names() -> None:
    delivery = ready_deliveries(["shop_2026-11-28.fin"], "shop", Granularity.DAILY)[0]
    names = [
        "10-shop_2026-11-28.tar.gz",
        "02-shop_2026-11-28.tar.gz",
        "01-shop_2026-11-28.tar.gz",
        "shop_2026-11-28-lookup_data.tar.gz",
        "01-shop_2026-11-29.tar.gz",
        "01-shop_2026-11-28.tsv",
    ]
    assert fin_files(names, delivery) == (
        ["shop_2026-11-28-lookup_data.tar.gz"],
        ["01-shop_2026-11-28.tar.gz", "02-shop_2026-11-28.tar.gz", "10-shop_2026-11-28.tar.gz"],
    )
    assert identity("a") == identity("a") != identity("b")


def reference_split(record: str) -> list[str]:
    """The escape rule read one character at a time: a backslash makes the next character literal (a last lone
    backslash stays), an unescaped tab ends a field."""
    fields, current, index = [], [], 0
    while index < len(record):
        char = record[index]
        if char == "\\" and index + 1 < len(record):
            current.append(record[index + 1])
            index += 2
            continue
        if char == "\t":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    fields.append("".join(current))
    return fields


@given(st.text(alphabet=st.sampled_from(["a", "é", "ÿ", "\t", "\n", "\\", "n", "t", "\r"]), max_size=30))
def test_fields_are_split_as_the_escape_rule_reads_them_one_character_at_a_time(record: str) -> None:
    assert split_fields(record) == reference_split(record)
