"""The scheduler's SMTP settings: which TLS is used on which port, and the combinations refused at start (in
our words, naming the settings, never their values)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connect_scheduler.config import SchedulerSettings

SMTP_VARIABLES = ("HOST", "PORT", "FROM", "USER", "PASSWORD", "STARTTLS", "TLS")


@pytest.fixture(autouse=True)
def no_smtp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SMTP_VARIABLES:
        monkeypatch.delenv(f"CONNECT_SMTP_{name}", raising=False)


def settings(**variables: Any) -> SchedulerSettings:
    return SchedulerSettings(**{f"CONNECT_SMTP_{name}": value for name, value in variables.items()})


@pytest.mark.parametrize(
    ("variables", "starttls", "tls", "port"),
    [
        ({}, True, False, 587),
        ({"TLS": True}, False, True, 465),
        ({"TLS": True, "STARTTLS": False, "PORT": 2465}, False, True, 2465),
        ({"STARTTLS": False}, False, False, 587),
    ],
    ids=["starttls-by-default", "tls-on-465", "tls-on-its-port", "plain"],
)
def test_the_tls_in_use_and_its_port(variables: dict[str, Any], starttls: bool, tls: bool, port: int) -> None:
    loaded = settings(**variables)
    assert (loaded.smtp_starttls_required, loaded.smtp_tls, loaded.smtp_server_port) == (starttls, tls, port)


def test_tls_and_starttls_are_refused_together() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(TLS=True, STARTTLS=True)
    assert "CONNECT_SMTP_TLS and CONNECT_SMTP_STARTTLS exclude each other: set only one" in str(refused.value)


@pytest.mark.parametrize(
    "credentials", [{"USER": "bob", "PASSWORD": "hunter2"}, {"PASSWORD": "hunter2"}, {"USER": "bob"}]
)
def test_credentials_without_tls_are_refused_without_showing_them(credentials: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(HOST="smtp.test", STARTTLS=False, **credentials)

    text = f"{refused.value}{refused.value!r}"
    assert (
        "CONNECT_SMTP_USER and CONNECT_SMTP_PASSWORD are sent only encrypted: "
        "set CONNECT_SMTP_STARTTLS or CONNECT_SMTP_TLS to true"
    ) in text
    assert "hunter2" not in text and "bob" not in text


@pytest.mark.parametrize("variables", [{"TLS": True}, {}, {"STARTTLS": True}])
def test_credentials_over_either_tls_are_accepted(variables: dict[str, Any]) -> None:
    loaded = settings(HOST="smtp.test", USER="bob", PASSWORD="hunter2", **variables)
    assert loaded.smtp_password is not None and loaded.smtp_password.get_secret_value() == "hunter2"
