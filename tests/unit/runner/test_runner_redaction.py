"""Log texts about exceptions are kept whole or withheld whole: nothing inside them is ever replaced, so no
text shows where a secret stood. Exceptions are outlined without their messages."""

from __future__ import annotations

import asyncssh
from hypothesis import given
from hypothesis import strategies as st

from connect_runner.adapters.sftp import KEEPALIVE_COUNT_MAX, KEEPALIVE_INTERVAL_S, _options
from connect_runner.domain.redaction import WITHHELD, exception_outline, type_name, withhold
from connect_runtime.vault import Credential
from tests.unit.runner.runner_builders import location

KEY_PAIR = asyncssh.generate_private_key("ssh-ed25519")
KEY = KEY_PAIR.export_private_key().decode()
LONG_PASSWORD = "correct horse battery staple"


def _body_lines(key: str) -> list[str]:
    return [line for line in key.splitlines() if not line.startswith("-----")]


def test_a_text_with_the_secret_or_a_piece_of_a_key_is_withheld_whole() -> None:
    assert withhold(f"login as {LONG_PASSWORD!r} failed", [LONG_PASSWORD]) == WITHHELD
    assert withhold(f"bad key {KEY!r}", [KEY]) == WITHHELD
    assert withhold(f"near {_body_lines(KEY)[1]}", [KEY]) == WITHHELD


def test_a_short_secret_withholds_every_text_so_none_reveals_it() -> None:
    # Replacing `0.0` would print `127.[redacted].1`; withholding only texts containing `idna` would still
    # tell that it occurs in `encoding with 'idna' codec failed`.
    assert withhold("connection to 127.0.0.1 refused", ["0.0"]) == WITHHELD
    assert withhold("nothing in common", ["idna"]) == WITHHELD


def test_a_withheld_text_says_nothing_about_the_secret_whatever_its_length() -> None:
    # Review of issue 5: "Permission denied for user backup-operator" withheld only when the password is the
    # user name would tell exactly that. The decision must not depend on the text.
    message = "Permission denied for user backup-operator on host sftp.example.com"
    assert withhold(message, ["backup-operator"]) == withhold(message, [LONG_PASSWORD]) == WITHHELD


def test_texts_are_kept_while_no_credential_is_held() -> None:
    text = "cannot connect to a@b:22: timed out"
    assert withhold(text, []) == text
    assert withhold(text, [""]) == text


@given(secret=st.text(min_size=1, max_size=40), text=st.text(max_size=200))
def test_with_a_credential_every_text_is_withheld_whole(secret: str, text: str) -> None:
    assert withhold(text, [secret]) == WITHHELD


def test_an_outline_names_types_and_places_but_no_message() -> None:
    try:
        try:
            raise KeyError(LONG_PASSWORD)
        except KeyError as exc:
            raise ValueError(f"cannot use {LONG_PASSWORD}") from exc
    except ValueError as exc:
        outline = exception_outline(exc)
        assert type_name(exc) == "ValueError"

    assert outline[0] == "KeyError"
    assert "ValueError" in outline
    assert any(" in test_an_outline_names_types_and_places_but_no_message" in line for line in outline)
    assert not [line for line in outline if LONG_PASSWORD in line]
    assert type_name(asyncssh.PermissionDenied("x")) == "asyncssh.misc.PermissionDenied"


def test_ssh_connections_send_keepalives() -> None:
    host_key = KEY_PAIR.export_public_key().decode().strip()
    options = _options(location("/x.csv", host_key=host_key), Credential(kind="password", secret="pw"), 10.0)
    assert (options["keepalive_interval"], options["keepalive_count_max"]) == (
        KEEPALIVE_INTERVAL_S,
        KEEPALIVE_COUNT_MAX,
    )
