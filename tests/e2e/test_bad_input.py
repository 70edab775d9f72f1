"""Bad input gets a clear error naming the field, and nothing stored changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body


async def _snapshot(api: httpx.AsyncClient) -> tuple[Any, Any]:
    return (await api.get("/api/v1/jobs")).json(), (await api.get("/api/v1/tables")).json()


def _fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


@pytest.fixture
async def table(api: httpx.AsyncClient, unique: str) -> str:
    name = f"badinput_{unique}"
    await create(api, "/api/v1/tables", table_body(name))
    return name


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Bad/name#1"}, "name", "name"),
        ({"name": ""}, "name", "name"),
    ],
    ids=["invalid-characters", "empty-name"],
)
async def test_invalid_job_is_refused_naming_the_field(
    api: httpx.AsyncClient, sftp: SftpServer, table: str, unique: str, change: dict[str, Any], field: str, words: str
) -> None:
    before = await _snapshot(api)
    body = job_body(f"Bad {unique}", table, sftp, sftp.data_dir / "x.csv") | change
    answer = await api.post("/api/v1/jobs", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_failed"
    assert field in _fields(answer)
    assert words in answer.text
    assert await _snapshot(api) == before


async def test_a_mapping_to_a_missing_column_is_saved_as_a_draft_naming_it(
    api: httpx.AsyncClient, sftp: SftpServer, table: str, unique: str
) -> None:
    """Spec §7.1: saved with its errors and inactive; it cannot be activated until they are fixed (the unknown
    table case is in test_lifecycle_api)."""
    body = job_body(f"Draft mapping {unique}", table, sftp, sftp.data_dir / "x.csv")
    body["mapping"][2] = {"source": "amount", "target": "NO_SUCH_COLUMN"}
    answer = await api.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    draft = answer.json()
    assert draft["state"] == "inactive"
    assert "mapping[2].target" in [e["field"] for e in draft["errors"]]
    assert "NO_SUCH_COLUMN" in answer.text
    refused = await api.post(f"/api/v1/jobs/{draft['job_id']}/activate")
    assert (refused.status_code, refused.json()["reason"]) == (409, "JOB_HAS_ERRORS"), refused.text
    assert "mapping[2].target" in _fields(refused)


async def test_malformed_json_body_is_refused(api: httpx.AsyncClient) -> None:
    before = await _snapshot(api)
    answer = await api.post(
        "/api/v1/jobs", content=b'{"name": "x", "type": ', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "malformed_request"
    assert answer.json()["errors"], "the error names where the body is broken"
    assert await _snapshot(api) == before


async def test_duplicate_job_name_is_refused_case_insensitively(
    api: httpx.AsyncClient, sftp: SftpServer, table: str, unique: str
) -> None:
    await create(api, "/api/v1/jobs", job_body(f"Twice {unique}", table, sftp, sftp.data_dir / "x.csv"))
    answer = await api.post("/api/v1/jobs", json=job_body(f"TWICE {unique}", table, sftp, sftp.data_dir / "x.csv"))
    assert answer.status_code == 422, answer.text
    assert "name" in _fields(answer)


async def test_table_with_a_primary_key_outside_its_columns_is_refused(api: httpx.AsyncClient, unique: str) -> None:
    body = table_body(f"badpk_{unique}") | {"primary_key": ["NOPE"]}
    answer = await api.post("/api/v1/tables", json=body)
    assert answer.status_code == 422, answer.text
    assert "primary_key[0]" in _fields(answer)
    assert (await api.get(f"/api/v1/tables/badpk_{unique}")).status_code == 404
