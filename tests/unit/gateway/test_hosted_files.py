"""The hosted file server's pure rules and its tree on disk: path mapping, keys, uploads, listings."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from connect_events import Role
from connect_gateway.files import area, tree
from connect_gateway.files.keys import KeyRefusedError, label_problem, read_public_key
from connect_runtime.hosted_files import PathRefusedError, ensure_account
from tests.unit.gateway.test_ssh_keys_store import generate

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    account = tmp_path / "account"
    ensure_account(account)
    return account


class TestClientPaths:
    @pytest.mark.parametrize("client", ["/", "", ".", "//", "/."])
    def test_the_clients_root_is_the_accounts_root(self, root: Path, client: str) -> None:
        assert tree.local(root, client) == root

    @pytest.mark.parametrize("client", ["/upload/a.csv", "upload/a.csv", "//upload/a.csv"])
    def test_absolute_and_relative_paths_name_the_same_file(self, root: Path, client: str) -> None:
        assert tree.local(root, client) == root / "upload" / "a.csv"

    @pytest.mark.parametrize("client", ["/../etc/passwd", "/upload/../../x", "upload/./a", "/upload//a", "a\\b"])
    def test_dot_segments_and_backslashes_are_refused_not_repaired(self, root: Path, client: str) -> None:
        with pytest.raises(PathRefusedError):
            tree.local(root, client)

    def test_a_link_in_the_tree_is_refused_wherever_it_points(self, root: Path, tmp_path: Path) -> None:
        (root / "upload" / "out").symlink_to(tmp_path)
        (root / "upload" / "in").symlink_to(root / "download")
        for client in ("/upload/out", "/upload/out/x", "/upload/in/x"):
            with pytest.raises(PathRefusedError, match="symbolic link"):
                tree.local(root, client)

    @pytest.mark.parametrize(
        ("client", "canonical"),
        [
            (".", "/"),
            ("/", "/"),
            ("/upload/..", "/"),
            ("/upload/./crm/../a.csv", "/upload/a.csv"),
            ("upload", "/upload"),
        ],
    )
    def test_realpath_folds_dots_within_the_root(self, client: str, canonical: str) -> None:
        assert tree.canonical(client) == canonical

    @pytest.mark.parametrize("client", ["/..", "..", "/upload/../..", "/../../etc/passwd"])
    def test_realpath_refuses_to_climb_above_the_root(self, client: str) -> None:
        with pytest.raises(PathRefusedError, match="out of the account's root"):
            tree.canonical(client)

    @pytest.mark.parametrize(
        ("client", "fixed"),
        [("/", True), ("/upload", True), ("archive/", True), ("/upload/x", False), ("/uploads", False)],
    )
    def test_the_root_and_standard_folders_are_fixed(self, client: str, fixed: bool) -> None:
        assert tree.is_fixed(client) is fixed


class TestRules:
    def test_viewers_read_and_operators_and_above_write(self) -> None:
        assert [tree.may_write(role) for role in Role] == [role is not Role.VIEWER for role in Role]

    def test_temporary_names_are_hidden_and_recognised(self) -> None:
        name = tree.temporary_name(TOKEN)
        assert name.startswith(".") and tree.is_temporary(name)
        assert not tree.is_temporary(".upload-x.part") and not tree.is_temporary("a.csv")
        with pytest.raises(ValueError):
            tree.temporary_name("../x")


class TestKeys:
    @pytest.mark.parametrize(("kind", "bits"), [("ssh-ed25519", 256), ("ssh-rsa", 2048), ("ssh-rsa", 3072)])
    def test_ed25519_and_rsa_of_2048_bits_or_more_are_taken(self, kind: str, bits: int) -> None:
        private = generate(kind, bits)
        line = private.export_public_key("openssh").decode().strip() + " me@laptop"
        key = read_public_key(line)
        assert (key.algorithm, key.bits) == (kind, bits)
        assert key.fingerprint == private.get_fingerprint("sha256")
        assert key.openssh == " ".join(line.split()[:2])  # the comment is dropped

    def test_a_short_rsa_key_is_refused_with_its_size(self) -> None:
        line = asyncssh.generate_private_key("ssh-rsa", key_size=1024).export_public_key("openssh").decode()
        with pytest.raises(KeyRefusedError, match="1024 bits; RSA keys must have at least 2048"):
            read_public_key(line)

    def test_other_algorithms_are_refused(self) -> None:
        line = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key("openssh").decode()
        with pytest.raises(KeyRefusedError, match="Ed25519 key or an RSA key"):
            read_public_key(line)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "ssh-ed25519 not-base64",
            "hello",
            asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode(),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
        ],
        ids=["empty", "bad-base64", "word", "private-key", "two-lines"],
    )
    def test_what_is_not_one_public_key_line_is_refused_without_echoing_it(self, text: str) -> None:
        with pytest.raises(KeyRefusedError) as refused:
            read_public_key(text)
        assert str(refused.value) == "must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… laptop'"

    def test_labels_are_one_line_of_at_most_100_characters(self) -> None:
        assert label_problem("work laptop") is None
        assert label_problem("x" * 101) == "must be at most 100 characters"
        assert label_problem("  ") is not None and label_problem("a\nb") is not None


class TestTree:
    def test_a_listing_shows_files_and_folders_by_name_without_uploads_in_progress_or_links(self, root: Path) -> None:
        (root / "upload" / "b.csv").write_bytes(b"12345")
        (root / "upload" / "a").mkdir()
        (root / "upload" / tree.temporary_name(TOKEN)).write_bytes(b"half")
        (root / "upload" / "link").symlink_to(root / "upload" / "b.csv")
        found = area.list_folder(root, "upload")
        assert [(e.name, e.path, e.size, e.is_folder) for e in found] == [
            ("a", "upload/a", 0, True),
            ("b.csv", "upload/b.csv", 5, False),
        ]
        assert [e.name for e in area.list_folder(root, None)] == ["archive", "download", "upload"]

    def test_listing_what_is_not_a_folder_says_so(self, root: Path) -> None:
        (root / "upload" / "a.csv").write_bytes(b"x")
        with pytest.raises(area.MissingError, match="the folder upload/none does not exist"):
            area.list_folder(root, "upload/none")
        with pytest.raises(area.ConflictError, match=r"upload/a\.csv is a file, not a folder"):
            area.list_folder(root, "upload/a.csv")
        with pytest.raises(PathRefusedError):
            area.list_folder(root, "../")

    def test_an_upload_appears_only_once_finished_and_replaces_the_file_whole(self, root: Path) -> None:
        target = root / "upload" / "a.csv"
        target.write_bytes(b"old content that is longer")
        upload = area.Upload(root, "upload/a.csv", TOKEN)
        upload.write(b"new ")
        upload.write(b"rows")
        assert target.read_bytes() == b"old content that is longer"
        found, created = upload.finish()
        assert (target.read_bytes(), found.size, found.path, created) == (b"new rows", 8, "upload/a.csv", False)
        assert sorted(os.listdir(root / "upload")) == ["a.csv"]
        assert target.stat().st_mode & 0o777 == area.FILE_MODE

    def test_an_aborted_upload_leaves_nothing(self, root: Path) -> None:
        upload = area.Upload(root, "upload/new.csv", TOKEN)
        upload.write(b"part")
        upload.abort()
        assert os.listdir(root / "upload") == []

    def test_an_upload_needs_an_existing_folder_and_cannot_replace_a_folder(self, root: Path) -> None:
        with pytest.raises(area.MissingError, match="the folder upload/crm does not exist"):
            area.Upload(root, "upload/crm/a.csv", TOKEN)
        with pytest.raises(area.ConflictError, match="upload is a folder"):
            area.Upload(root, "upload", TOKEN)
        with pytest.raises(PathRefusedError, match="cannot end with '/'"):
            area.Upload(root, "upload/x/", TOKEN)
        assert os.listdir(root / "upload") == []

    def test_folders_are_created_once_inside_existing_ones(self, root: Path) -> None:
        assert area.make_folder(root, "upload/crm").is_folder
        with pytest.raises(area.ConflictError, match="upload/crm already exists"):
            area.make_folder(root, "upload/crm")
        with pytest.raises(area.MissingError):
            area.make_folder(root, "upload/x/y")

    def test_files_and_empty_folders_are_removed_but_not_the_standard_folders(self, root: Path) -> None:
        (root / "upload" / "crm").mkdir()
        (root / "upload" / "crm" / "a.csv").write_bytes(b"x")
        with pytest.raises(area.ConflictError, match="not empty"):
            area.remove(root, "upload/crm")
        area.remove(root, "upload/crm/a.csv")
        area.remove(root, "upload/crm")
        assert os.listdir(root / "upload") == []
        with pytest.raises(area.ConflictError, match="standard folder"):
            area.remove(root, "upload")
        with pytest.raises(area.MissingError):
            area.remove(root, "upload/none")

    def test_a_download_opens_the_file_itself(self, root: Path) -> None:
        (root / "download" / "out.csv").write_bytes(b"abc")
        handle, size = area.open_file(root, "download/out.csv")
        with handle:
            assert (handle.read(), size) == (b"abc", 3)
        with pytest.raises(area.ConflictError, match="is a folder"):
            area.open_file(root, "download")
        with pytest.raises(area.MissingError):
            area.open_file(root, "download/none.csv")
