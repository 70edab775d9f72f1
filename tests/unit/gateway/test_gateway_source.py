"""The SFTP source: its path goes to the server as given, and a failed host-key scan is never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from connect_gateway.adapters.ssh import SshHostKeyScanner
from connect_gateway.ports import HostUnreachableError
from tests.unit.gateway.gateway_fakes import World, job_body, stored_job


def job(path: str) -> dict[str, Any]:
    body = job_body()
    body["source"] |= {"password": "s3cret!", "path": path}
    return body


@pytest.mark.parametrize(
    "path",
    [
        "stores.csv",  # relative: to the directory the SFTP server starts the session in (the login's home)
        "./upload/../upload/stores.csv",  # `.` and `..` are the server's to resolve
        "../other-account/stores.csv",  # may leave that directory unless the server confines the login
        "/srv/exports/%YYYY%-%MM%/stores_*.csv",  # absolute, with the runner's date tokens and wildcard
        " upload/stores.csv ",  # spaces are part of the name: not trimmed
        "upload\\stores.csv",  # a backslash is a character of the name, not a separator
        "upload//stores.csv",
    ],
)
async def test_the_path_is_sent_exactly_as_given(world: World, path: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=job(path))
    assert response.status_code == 201, response.text
    assert world.bus.sent[0].payload.definition.settings.source.path == path  # type: ignore[attr-defined]


async def test_an_edit_sends_its_path_as_given_too(world: World) -> None:
    stored_job(world)
    body = job("../exports/stores.csv") | {"expected_version": 3}
    del body["activate"], body["source"]["password"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 200, response.text
    assert world.bus.sent[0].payload.definition.settings.source.path == "../exports/stores.csv"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["a\nb.csv", "a\rb.csv", "a\u0000b.csv", "a\u001bb.csv", "a\u0085b.csv", ""])
async def test_a_path_with_control_characters_is_refused(world: World, path: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=job(path))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source.path"]
    assert world.bus.sent == [] and world.credentials.stored == {}


@pytest.mark.parametrize("host", ["a..b", ".", "a" * 64, "a\u0095", "a\u0000b", "\ud800", "a" * 300])
async def test_the_scanner_turns_every_failure_into_unreachable(host: str) -> None:
    # These fail before any packet is sent (IDNA encoding, NUL): the schema refuses them first, and the
    # adapter must not turn one that slips through into a 500.
    with pytest.raises(HostUnreachableError) as unreachable:
        await SshHostKeyScanner(timeout_s=5.0).fetch(host, 22)
    assert "idna" not in str(unreachable.value) and "codec" not in str(unreachable.value)
