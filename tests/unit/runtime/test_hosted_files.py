"""The hosted file tree's path rules: nothing leaves the account's root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_runtime.hosted_files import FOLDERS, PathRefusedError, ensure_account, resolve, segments


@pytest.fixture
def root(tmp_path: Path) -> Path:
    account = tmp_path / "account"
    ensure_account(account)
    return account


def test_an_account_root_has_the_standard_folders(root: Path) -> None:
    assert sorted(p.name for p in root.iterdir()) == sorted(FOLDERS)


@pytest.mark.parametrize(
    ("path", "parts"),
    [("upload/a.csv", ("upload", "a.csv")), ("archive/2026/", ("archive", "2026")), ("my folder", ("my folder",))],
)
def test_relative_paths_are_split_into_their_segments(path: str, parts: tuple[str, ...]) -> None:
    assert segments(path) == parts


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/etc/passwd",
        "../secret",
        "upload/../../x",
        "upload/./a.csv",
        "upload//a.csv",
        "upload\\..\\x",
        "upload/a\x00.csv",
        "upload/a\n.csv",
        "upload/" + "x" * 256,
        "a/" * 600,
    ],
)
def test_paths_that_could_leave_the_root_or_name_no_file_are_refused(root: Path, path: str) -> None:
    with pytest.raises(PathRefusedError) as refused:
        resolve(root, path)
    assert path not in str(refused.value) or not path


def test_a_path_through_a_symbolic_link_is_refused_even_inside_the_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("x")
    os.symlink(outside, root / "upload" / "linked")
    os.symlink(root / "download", root / "upload" / "inside")

    for path in ("upload/linked/secret.csv", "upload/linked", "upload/inside/a.csv"):
        with pytest.raises(PathRefusedError, match="symbolic link"):
            resolve(root, path)


def test_a_file_not_there_yet_resolves_under_the_root(root: Path) -> None:
    assert resolve(root, "upload/new/customers.csv") == root / "upload" / "new" / "customers.csv"


@given(st.text(max_size=60))
def test_whatever_is_given_never_resolves_outside_the_root(path: str) -> None:
    root = Path("/srv/connect/files/account")
    try:
        resolved = resolve(root, path)
    except PathRefusedError:
        return
    assert resolved.is_relative_to(root) and resolved != root
