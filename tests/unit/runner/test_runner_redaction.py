"""The run's credential is scrubbed from texts the runner did not write itself."""

from __future__ import annotations

import asyncssh

from connect_runner.adapters.sftp import KEEPALIVE_COUNT_MAX, KEEPALIVE_INTERVAL_S, _options
from connect_runner.domain.redaction import REDACTED, redact
from connect_runtime.vault import Credential
from tests.unit.runner.runner_builders import location

KEY_PAIR = asyncssh.generate_private_key("ssh-ed25519")
KEY = KEY_PAIR.export_private_key().decode()


def _body_lines(key: str) -> list[str]:
    return [line for line in key.splitlines() if not line.startswith("-----")]


def test_a_password_and_a_private_key_are_removed_also_when_escaped() -> None:
    text = f"connect failed: password={'s3cret-pass'!r}, key={KEY!r}"

    cleaned = redact(text, ["s3cret-pass", KEY])

    assert "s3cret-pass" not in cleaned
    assert not [line for line in _body_lines(KEY) if line in cleaned]
    assert cleaned.startswith(f"connect failed: password='{REDACTED}', key=")


def test_texts_without_the_secret_are_unchanged() -> None:
    assert redact("cannot connect to a@b:22: timed out", [KEY, "pw"]) == "cannot connect to a@b:22: timed out"


def test_ssh_connections_send_keepalives() -> None:
    host_key = KEY_PAIR.export_public_key().decode().strip()
    options = _options(location("/x.csv", host_key=host_key), Credential(kind="password", secret="pw"), 10.0)
    assert (options["keepalive_interval"], options["keepalive_count_max"]) == (
        KEEPALIVE_INTERVAL_S,
        KEEPALIVE_COUNT_MAX,
    )
