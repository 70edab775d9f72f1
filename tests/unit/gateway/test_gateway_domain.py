"""The gateway's pure rules: secrets, host-key pins, field paths, run ids."""

from __future__ import annotations

from uuid import UUID

import asyncssh
import pytest

from connect_events import FieldError, SftpLocation
from connect_gateway.domain.edits import check_based_on, check_same_login
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.host_keys import pin
from connect_gateway.domain.jobs import SourceDraft
from connect_gateway.domain.paths import JOB_PATHS, TABLE_PATHS, to_request_errors, to_request_path
from connect_gateway.domain.runs import parse_run_key
from connect_gateway.domain.secrets import Secret, choose_secret


@pytest.mark.parametrize(
    ("scheduler_path", "request_path"),
    [
        ("settings.mapping[2].target", "mapping[2].target"),
        ("settings.source.port", "source.port"),
        ("definition.settings.source.host", "source.host"),
        ("settings.table", "target.table"),
        ("settings.tablespace", "settings.tablespace"),
        ("settings.write_mode", "target.write_mode"),
        ("settings.file.delimiter", "file.delimiter"),
        ("settings.source.host_key_fingerprint", "source.host_key"),
        ("name", "name"),
        ("expires_at", "expires_at"),
    ],
)
def test_job_paths(scheduler_path: str, request_path: str) -> None:
    assert to_request_path(scheduler_path, JOB_PATHS) == request_path


def test_table_paths() -> None:
    errors = to_request_errors([FieldError(field="table.primary_key[0]", message="m")], TABLE_PATHS)
    assert errors == [FieldError(field="primary_key[0]", message="m")]


def test_run_keys() -> None:
    assert parse_run_key("1042.7") == (1042, 7)
    assert parse_run_key("999999999999999999.999999999") == (10**18 - 1, 10**9 - 1)
    for bad in ("1042", "1042.", "0.1", "1.0", "a.b", "1.2.3", " 1.2", "1000000000000000000.1", "1.1000000000"):
        with pytest.raises(Refusal):
            parse_run_key(bad)


def test_secret_repr_hides_the_value() -> None:
    assert "hunter2" not in repr(Secret("password", "hunter2"))
    assert choose_secret(None, None, required=False) is None
    with pytest.raises(Refusal) as refused:
        choose_secret(None, "", required=True)
    assert refused.value.errors[0].field == "source.password"


def test_pin_drops_the_comment_and_fingerprints() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    line = key.export_public_key("openssh").decode().strip()
    pinned = pin(line + " root@host")
    assert pinned.public_key == line
    assert pinned.fingerprint == key.get_fingerprint("sha256")
    assert pinned.fingerprint.startswith("SHA256:")


def test_an_edit_keeps_catalog_values_only_from_its_own_version() -> None:
    check_based_on(7, read_version=3, expected_version=3)
    with pytest.raises(Refusal) as lagging:
        check_based_on(7, read_version=2, expected_version=3)
    assert (lagging.value.code, lagging.value.message) == (
        "conflict",
        "job 7 is still being updated (read model at version 2, request based on 3); retry",
    )
    with pytest.raises(Refusal) as stale:
        check_based_on(7, read_version=4, expected_version=3)
    assert stale.value.code == "conflict" and "at version 4, not 3" in stale.value.message


def test_the_stored_secret_goes_only_to_the_same_login() -> None:
    current = SftpLocation(
        host="sftp.example.com",
        port=2222,
        user="acme",
        path="a.csv",
        credential_ref=UUID(int=1),
        host_key="ssh-ed25519 AAAA",
        host_key_fingerprint="SHA256:x",
    )
    check_same_login(SourceDraft(host="SFTP.example.com", port=2222, user="acme", path="b.csv"), current)
    for host, port, user in [
        ("other", 2222, "acme"),
        ("sftp.example.com", 22, "acme"),
        ("sftp.example.com", 2222, "x"),
    ]:
        with pytest.raises(Refusal) as refused:
            check_same_login(SourceDraft(host=host, port=port, user=user, path="a.csv"), current)
        assert [e.field for e in refused.value.errors] == ["source.private_key", "source.password"]
