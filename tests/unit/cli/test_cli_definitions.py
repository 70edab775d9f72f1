"""The CLI's plain parts: a job projected onto the API's request schema, YAML files read back with their
mistakes named, the gateway's refusals in its own words, and the saved credential."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from connect_cli import definitions
from connect_cli.client import Settings, load_settings, problem, save_settings

SCHEDULE = {
    "oneOf": [{"$ref": "#/components/schemas/OnDemand"}, {"$ref": "#/components/schemas/Daily"}],
    "discriminator": {
        "propertyName": "kind",
        "mapping": {"on_demand": "#/components/schemas/OnDemand", "daily": "#/components/schemas/Daily"},
    },
}
DOCUMENT: dict[str, Any] = {
    "paths": {
        "/api/v1/jobs/{job_id}": {
            "put": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Up"}}}}}
        }
    },
    "components": {
        "schemas": {
            "Up": {
                "properties": {
                    "name": {"type": "string"},
                    "source": {
                        "oneOf": [{"$ref": "#/components/schemas/Sftp"}, {"$ref": "#/components/schemas/Hosted"}]
                    },
                    "schedule": SCHEDULE,
                    "mapping": {"type": "array", "items": {"$ref": "#/components/schemas/Map"}},
                    "emails": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                    "expected_version": {"type": "integer"},
                },
                "required": ["name", "expected_version"],
            },
            "Sftp": {
                "properties": {"kind": {"const": "sftp", "default": "sftp"}, "host": {}, "path": {}, "private_key": {}},
                "required": ["host", "path"],
            },
            "Hosted": {"properties": {"kind": {"const": "hosted"}, "path": {}}, "required": ["kind", "path"]},
            "OnDemand": {"properties": {"kind": {"const": "on_demand"}}},
            "Daily": {"properties": {"kind": {"const": "daily"}, "time": {}, "time_zone": {}}},
            "Map": {"properties": {"source": {}, "target": {}, "format": {}}},
        }
    },
}
JOB: dict[str, Any] = {
    "job_id": 7,
    "version": 4,
    "state": "active",
    "name": "Stores",
    "source": {"kind": "sftp", "host": "h", "path": "p", "host_key_fingerprint": "SHA256:x", "port": None},
    "schedule": {"kind": "daily", "time": "02:30", "time_zone": "UTC", "expression": None, "days": None},
    "mapping": [{"source": "a", "target": "A", "format": None}],
    "emails": ["x@example.com"],
    "errors": [],
}


def test_a_job_is_projected_onto_the_update_request() -> None:
    assert definitions.definition_of(JOB, DOCUMENT) == {
        "name": "Stores",
        "source": {"kind": "sftp", "host": "h", "path": "p"},  # derived and null fields left out
        "schedule": {"kind": "daily", "time": "02:30", "time_zone": "UTC"},  # by the discriminator
        "mapping": [{"source": "a", "target": "A"}],
        "emails": ["x@example.com"],
    }


def test_an_alternative_without_a_discriminator_is_chosen_by_its_constants() -> None:
    hosted = {**JOB, "source": {"kind": "hosted", "path": "upload/x.csv", "host": None}}
    assert definitions.definition_of(hosted, DOCUMENT)["source"] == {"kind": "hosted", "path": "upload/x.csv"}
    defaulted = {**JOB, "source": {"host": "h", "path": "p"}}  # `kind` left to its default: sftp
    assert definitions.definition_of(defaulted, DOCUMENT)["source"] == {"host": "h", "path": "p"}


def test_the_yaml_file_round_trips() -> None:
    text = definitions.dump(JOB, DOCUMENT, "http://connect.example")
    assert text.startswith("# Connect job 7 (version 4) exported from http://connect.example\n")
    assert definitions.load(text, "job.yaml") == (7, definitions.definition_of(JOB, DOCUMENT))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: connect/job\n\tdefinition: x\n", "job.yaml: not valid YAML at line 2"),
        ("- a list\n", "job.yaml: not a Connect job definition (it needs `kind: connect/job`)"),
        ("kind: connect/job\njob_id: 0\ndefinition: {name: x}\n", "job.yaml: job_id must be a positive whole number"),
        (
            "kind: connect/job\njob_id: true\ndefinition: {name: x}\n",
            "job.yaml: job_id must be a positive whole number",
        ),
        ("kind: connect/job\ndefinition: []\n", "job.yaml: definition must be a mapping of the job's fields"),
        ("kind: connect/job\ndefinition: {name: x}\nversion: 3\n", "job.yaml: unknown top-level field 'version'"),
    ],
)
def test_a_file_that_is_not_a_definition_is_named_with_its_mistake(text: str, message: str) -> None:
    with pytest.raises(definitions.DefinitionError) as caught:
        definitions.load(text, "job.yaml")
    assert str(caught.value) == message


def test_a_refusal_is_told_in_the_gateways_words() -> None:
    body = {"code": "conflict", "message": "job 7 is running", "errors": [], "reason": "JOB_RUNNING"}
    assert problem(httpx.Response(409, json=body)) == "job 7 is running"
    fields = {"code": "x", "message": "not saved", "errors": [{"field": "name", "message": "is required"}]}
    assert problem(httpx.Response(422, json=fields)) == "not saved (name: is required)"
    assert problem(httpx.Response(502, text="<html>bad gateway</html>")) == "Connect answered 502"


def test_the_token_is_saved_for_the_user_alone_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_CONFIG", str(tmp_path / "c" / "config.json"))
    monkeypatch.delenv("CONNECT_URL", raising=False)
    monkeypatch.delenv("CONNECT_TOKEN", raising=False)
    path = save_settings(Settings(url="http://a", token="cnt_saved", token_id="t1", username="ann"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_settings() == Settings(url="http://a", token="cnt_saved", token_id="t1", username="ann")
    monkeypatch.setenv("CONNECT_TOKEN", "cnt_env")
    monkeypatch.setenv("CONNECT_URL", "http://b")
    assert load_settings() == Settings(url="http://b", token="cnt_env", username="ann")  # not the saved token's id
    path.write_text("{broken")
    with pytest.raises(Exception, match="cannot read the configuration file"):
        load_settings()
