"""The compressed files imports read: gzip and zip by name, a zip holding exactly one unencrypted file."""

from __future__ import annotations

import io
import zipfile

import pytest

from connect_runtime.compressed import ArchiveRefusedError, compression, single_entry


@pytest.mark.parametrize(
    ("name", "kind"), [("a.csv.gz", "gzip"), ("A.CSV.GZ", "gzip"), ("a.zip", "zip"), ("a.csv", None), ("gz", None)]
)
def test_compression_is_told_by_the_name(name: str, kind: str | None) -> None:
    assert compression(name) == kind


def _zip(*names: str, encrypted: bool = False) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("folder/", b"")
        for name in names:
            archive.writestr(name, b"id\n1\n")
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    if encrypted:
        for info in archive.infolist():
            info.flag_bits |= 0x1
    return archive


def test_the_one_file_of_an_archive_is_found_beside_folders() -> None:
    assert single_entry(_zip("people.csv")).filename == "people.csv"


@pytest.mark.parametrize("names", [(), ("a.csv", "b.csv")])
def test_an_archive_of_no_file_or_several_is_refused_with_its_count(names: tuple[str, ...]) -> None:
    with pytest.raises(ArchiveRefusedError) as refused:
        single_entry(_zip(*names))
    assert (refused.value.entries, refused.value.encrypted) == (len(names), False)


def test_an_encrypted_file_is_refused() -> None:
    with pytest.raises(ArchiveRefusedError) as refused:
        single_entry(_zip("people.csv", encrypted=True))
    assert refused.value.encrypted
