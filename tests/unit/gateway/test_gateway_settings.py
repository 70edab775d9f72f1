"""The gateway reads the database names from the same variables as the services that own them."""

from __future__ import annotations

import re

import pytest

from connect_catalog.config import CatalogSettings
from connect_gateway.config import GatewaySettings
from connect_runner.config import RunnerSettings
from connect_runtime.vault import generate_key


def test_database_names_default_to_the_owners_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_DATABASE", raising=False)
    monkeypatch.delenv("VAULT_DATABASE", raising=False)
    settings = GatewaySettings(CONNECT_VAULT_KEY=generate_key())
    assert (settings.catalog_database, settings.vault_database) == ("catalog", "vault")


def test_database_names_come_from_the_shared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_DATABASE", "catalog_blue")
    monkeypatch.setenv("VAULT_DATABASE", "vault_blue")
    monkeypatch.setenv("CONNECT_VAULT_KEY", generate_key())
    settings = GatewaySettings()
    assert (settings.catalog_database, settings.vault_database) == ("catalog_blue", "vault_blue")


def test_the_defaults_are_those_of_the_catalog_and_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CATALOG_DATABASE", "VAULT_DATABASE", "AUDIENCE_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    key = generate_key()
    gateway = GatewaySettings(CONNECT_VAULT_KEY=key)
    runner = RunnerSettings(CONNECT_VAULT_KEY=key)
    assert gateway.catalog_database == CatalogSettings().database
    assert (gateway.vault_database, gateway.audience_database) == (runner.vault_database, runner.audience_database)


def test_the_rejects_are_read_where_the_runner_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCE_DATABASE", "audience_blue")
    key = generate_key()
    assert GatewaySettings(CONNECT_VAULT_KEY=key).audience_database == "audience_blue"
    assert RunnerSettings(CONNECT_VAULT_KEY=key).audience_database == "audience_blue"


def test_compat_limits_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_VAULT_KEY", generate_key())
    monkeypatch.setenv("GATEWAY_COMPAT_RATE_LIMITS", '{"getConnectJobRunStatus": 1200}')
    assert GatewaySettings().compat_rate_limits == {"getConnectJobRunStatus": 1200}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('{"mergeListMembers": 5}', "unknown API names ['mergeListMembers']"),
        ('{"login": 0}', "at least 1 request a minute: ['login']"),
        ('{"login": "many"}', "whole numbers"),
        ("sixty", "must be a JSON object"),
    ],
)
def test_bad_compat_limits_are_refused_at_start_naming_the_call(
    monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv("CONNECT_VAULT_KEY", generate_key())
    monkeypatch.setenv("GATEWAY_COMPAT_RATE_LIMITS", value)
    with pytest.raises(ValueError, match=re.escape(words)):
        GatewaySettings()
