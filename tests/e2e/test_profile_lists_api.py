"""Issue 8 items 1, 2 and 7 over the REST API on the whole stack: a profile list with a custom column and a PET,
a profile import from the hosted file server matching on the address (derived columns, RIIDs kept on update and
new ones for inserts), a PET row without its list row (NO_PARENT_RECORD), and the rejects CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import httpx

from tests.e2e.helpers import create, wait_for_run

HEADER = "EMAIL_ADDRESS_,tier,points"


async def test_a_profile_import_fills_a_list_and_its_pet(api: httpx.AsyncClient, unique: str) -> None:
    members, loyalty = f"Members_{unique}", f"Loyalty_{unique}"
    tier = {"name": "TIER", "type": "text", "max_length": 10}
    await create(api, "/api/v1/lists", {"name": members, "columns": [tier]})
    points = {"name": "POINTS", "type": "integer"}
    await create(api, "/api/v1/pets", {"name": loyalty, "list_name": members, "columns": [points]})
    shown = (await api.get(f"/api/v1/lists/{members}")).json()
    assert [p["name"] for p in shown["pets"]] == [loyalty]
    assert (await api.get(f"/api/v1/lists/{members}/count")).json()["count"] == 0  # the runner may not have it yet

    lines = ["Ann@Example.COM ,gold,10", "bob@example.com,silver,5", "not-an-address,x,1"]
    first = await upload(api, f"upload/members_{unique}_1.csv", lines)
    offer = (await api.post(f"/api/v1/lists/{members}/auto-mapping", json={"hosted_path": first})).json()
    assert offer["mapping"] == [
        {"source": "EMAIL_ADDRESS_", "target": "EMAIL_ADDRESS_"},
        {"source": "tier", "target": "TIER"},
    ]
    assert offer["unmatched_sources"] == ["points"]  # a PET's columns are mapped in `pets`
    job = await create(api, "/api/v1/jobs", profile_job(f"Members {unique}", first, members, loyalty, offer["mapping"]))
    read = (await api.get(f"/api/v1/jobs/{job['job_id']}")).json()
    assert (read["type"], read["target"]["list"], read["pets"][0]["pet"]) == ("import_profile_data", members, loyalty)

    done = await run(api, job["job_id"])
    assert counts(done, "rows_read", "inserted", "updated", "rejected") == (3, 2, 0, 1)
    assert await rejects(api, done["id"]) == [["4", "INVALID_EMAIL", "not-an-address,x,1"]]
    ann, bob = (await api.get(f"/api/v1/lists/{members}/rows")).json()["rows"]
    address = "ann@example.com"
    assert (ann["EMAIL_ADDRESS_"], ann["EMAIL_DOMAIN_"], ann["TIER"]) == (address, "example.com", "gold")
    assert ann["EMAIL_MD5_HASH_"].lower() == hashlib.md5(address.encode()).hexdigest()
    assert ann["EMAIL_SHA256_HASH_"].lower() == hashlib.sha256(address.encode()).hexdigest()
    assert ann["CREATED_DATE_"] is not None and bob["EMAIL_ADDRESS_"] == "bob@example.com"
    assert await pet_points(api, loyalty) == {ann["RIID_"]: 10, bob["RIID_"]: 5}

    # A second file: Ann is updated (her RIID kept), Cy inserted with a new one.
    lines = ["ann@example.com,platinum,20", "cy@example.com,bronze,1"]
    second = await upload(api, f"upload/members_{unique}_2.csv", lines)
    await edit_source(api, job["job_id"], second)
    done = await run(api, job["job_id"])
    assert counts(done, "inserted", "updated", "rejected") == (1, 1, 0)
    rows = {r["EMAIL_ADDRESS_"]: r for r in (await api.get(f"/api/v1/lists/{members}/rows")).json()["rows"]}
    assert (rows[address]["RIID_"], rows[address]["TIER"]) == (ann["RIID_"], "platinum")
    assert rows["cy@example.com"]["RIID_"] > max(ann["RIID_"], bob["RIID_"])
    assert (await api.get(f"/api/v1/lists/{members}/count")).json()["count"] == 3
    assert (await pet_points(api, loyalty))[ann["RIID_"]] == 20

    # Without inserts, a row matching nothing is skipped and its PET row has no parent.
    lines = ["ann@example.com,platinum,30", "dee@example.com,x,7"]
    third = await upload(api, f"upload/members_{unique}_3.csv", lines)
    body = profile_job(f"Members no insert {unique}", third, members, loyalty, offer["mapping"])
    body["target"]["insert_on_no_match"] = False
    other = await create(api, "/api/v1/jobs", body)
    done = await run(api, other["job_id"])
    assert counts(done, "rows_read", "inserted", "skipped") == (2, 0, 1)
    assert await rejects(api, done["id"]) == [["3", "NO_PARENT_RECORD", "dee@example.com,x,7"]]
    assert (await api.get(f"/api/v1/pets/{loyalty}/count")).json()["count"] == 3
    assert (await pet_points(api, loyalty))[ann["RIID_"]] == 30


def profile_job(name: str, path: str, members: str, loyalty: str, mapping: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "import_profile_data",
        "source": {"kind": "hosted", "path": path},
        "target": {"list": members, "match_column_1": "EMAIL_ADDRESS_"},
        "mapping": mapping,
        "pets": [{"pet": loyalty, "mapping": [{"source": "points", "target": "POINTS"}]}],
        "activate": True,
    }


async def upload(api: httpx.AsyncClient, path: str, lines: list[str]) -> str:
    answer = await api.put(f"/api/v1/files/{path}", content="\n".join([HEADER, *lines, ""]).encode())
    assert answer.status_code == 201, answer.text
    return path


async def edit_source(api: httpx.AsyncClient, job_id: int, path: str) -> None:
    """Point the job at another hosted file (the whole definition is sent again, as the API reads it)."""
    job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
    body = {
        "name": job["name"],
        "type": job["type"],
        "source": {"kind": "hosted", "path": path},
        "target": job["target"],
        "mapping": job["mapping"],
        "pets": job["pets"],
        "expected_version": job["version"],
    }
    answer = await api.put(f"/api/v1/jobs/{job_id}", json=body)
    assert (answer.status_code, answer.json()["state"]) == (200, "active"), answer.text


async def run(api: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    answer = await api.post(f"/api/v1/jobs/{job_id}/run")
    assert answer.status_code == 202, answer.text
    done = await wait_for_run(api, answer.json()["run"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    return done


def counts(run: dict[str, Any], *names: str) -> tuple[int, ...]:
    return tuple(run["counts"][name] for name in names)


async def pet_points(api: httpx.AsyncClient, pet: str) -> dict[int, int]:
    rows = (await api.get(f"/api/v1/pets/{pet}/rows", params={"limit": 100})).json()["rows"]
    return {row["RIID_"]: row["POINTS"] for row in rows}


async def rejects(api: httpx.AsyncClient, run: str) -> list[list[str]]:
    answer = await api.get(f"/api/v1/runs/{run}/rejects.csv")
    assert answer.status_code == 200, answer.text
    return list(csv.reader(io.StringIO(answer.text, newline="")))[1:]
