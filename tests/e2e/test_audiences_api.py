"""Issue 9 item 1 over the REST API on the whole stack: an audience over a list joined with its PET, a nested
all/any filter, its rows and count exactly the rows the rule picks; an unsaved preview; an update; bad
definitions refused naming their fields with nothing stored; a delete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.helpers import create
from tests.e2e.test_profile_lists_api import profile_job, run, upload

PEOPLE = [
    "ann@x.io,gold,10",
    "bob@x.io,gold,150",
    "cy@x.io,silver,500",
    "dee@x.io,bronze,5",
    "eve@x.io,,700",
    "fay@x.io,gold,",
]


async def test_an_audience_selects_exactly_its_rows(api: httpx.AsyncClient, unique: str) -> None:
    members, loyalty, name = f"Members_{unique}", f"Loyalty_{unique}", f"Gold_{unique}"
    await create(
        api, "/api/v1/lists", {"name": members, "columns": [{"name": "TIER", "type": "text", "max_length": 10}]}
    )
    await create(
        api, "/api/v1/pets", {"name": loyalty, "list_name": members, "columns": [{"name": "POINTS", "type": "integer"}]}
    )
    path = await upload(api, f"upload/audience_{unique}.csv", PEOPLE)
    mapping = [{"source": "EMAIL_ADDRESS_", "target": "EMAIL_ADDRESS_"}, {"source": "tier", "target": "TIER"}]
    job = await create(api, "/api/v1/jobs", profile_job(f"Audience {unique}", path, members, loyalty, mapping))
    await run(api, job["job_id"])

    # Gold members, or anyone with more than 400 points: ann, bob, cy, eve, fay.
    body: dict[str, Any] = {
        "name": name,
        "list_name": members.lower(),
        "pets": [loyalty.upper()],
        "filter": {
            "match": "any",
            "conditions": [
                {"column": "tier", "operator": "equals", "values": ["gold"]},
                {
                    "match": "all",
                    "conditions": [
                        {"column": "POINTS", "pet": loyalty, "operator": "greater_than", "values": ["400"]},
                        {"column": "EMAIL_ADDRESS_", "operator": "is_not_empty"},
                    ],
                },
            ],
        },
        "columns": [{"column": "EMAIL_ADDRESS_"}, {"column": "POINTS", "pet": loyalty}, {"column": "TIER"}],
    }
    tried = await api.post("/api/v1/audiences/preview", json=body, params={"limit": 2})
    assert tried.status_code == 200, tried.text
    assert (tried.json()["count"], len(tried.json()["rows"])) == (5, 2)
    assert (await api.get(f"/api/v1/audiences/{name}")).status_code == 404  # trying saves nothing

    defined = await create(api, "/api/v1/audiences", body)
    assert defined["name"] == name
    saved = (await api.get(f"/api/v1/audiences/{name.upper()}")).json()
    assert (saved["list_name"], saved["pets"], saved["version"]) == (members, [loyalty], 1)
    shown = (await api.get(f"/api/v1/audiences/{name}/rows", params={"limit": 100})).json()
    assert shown["columns"] == ["EMAIL_ADDRESS_", "POINTS", "TIER"]
    assert [(r["EMAIL_ADDRESS_"], r["POINTS"], r["TIER"]) for r in shown["rows"]] == [
        ("ann@x.io", 10, "gold"),
        ("bob@x.io", 150, "gold"),
        ("cy@x.io", 500, "silver"),
        ("eve@x.io", 700, None),
        ("fay@x.io", None, "gold"),
    ]
    assert shown["count"] == 5

    # Replaced: gold members with points between 100 and 200.
    update = {k: v for k, v in body.items() if k != "name"}
    update["filter"] = {
        "conditions": [
            {"column": "TIER", "operator": "in", "values": ["gold", "platinum"]},
            {"column": "POINTS", "pet": loyalty, "operator": "between", "values": ["100", "200"]},
        ]
    }
    answer = await api.put(f"/api/v1/audiences/{name}", json=update)
    assert answer.status_code == 200, answer.text
    await until(api, f"/api/v1/audiences/{name}", lambda status, body: status == 200 and body["version"] == 2)
    shown = (await api.get(f"/api/v1/audiences/{name}/rows")).json()
    assert ([r["EMAIL_ADDRESS_"] for r in shown["rows"]], shown["count"]) == (["bob@x.io"], 1)

    # Bad definitions are refused naming their fields, and nothing changes.
    bad = dict(update)
    bad["filter"] = {
        "conditions": [
            {"column": "NOPE", "operator": "equals", "values": ["x"]},
            {"column": "POINTS", "pet": loyalty, "operator": "contains", "values": ["1"]},
            {"column": "POINTS", "pet": loyalty, "operator": "greater_than", "values": ["ten"]},
        ]
    }
    refused = await api.put(f"/api/v1/audiences/{name}", json=bad)
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "AUDIENCE_INVALID"
    assert [e["field"] for e in refused.json()["errors"]] == [
        "filter.conditions[0].column",
        "filter.conditions[1].operator",
        "filter.conditions[2].values[0]",
    ]
    hostile = dict(update) | {"columns": [{"column": 'x"; DROP TABLE y; --'}]}
    refused = await api.put(f"/api/v1/audiences/{name}", json=hostile)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"].startswith("columns[0].column")
    assert (await api.get(f"/api/v1/audiences/{name}")).json()["version"] == 2
    clash = await api.post("/api/v1/audiences", json=body | {"name": name.lower()})
    assert (clash.status_code, clash.json()["reason"]) == (409, "AUDIENCE_EXISTS")

    gone = await api.delete(f"/api/v1/audiences/{name}")
    assert gone.status_code == 200, gone.text
    await until(api, f"/api/v1/audiences/{name}", lambda status, _: status == 404)
    assert name not in [a["name"] for a in (await api.get("/api/v1/audiences")).json()]


async def until(api: httpx.AsyncClient, url: str, shown: Callable[[int, Any], bool], timeout: float = 30) -> None:
    """Poll `url` until the read model shows what `shown` waits for (the catalog projects events a moment later)."""
    deadline = time.monotonic() + timeout
    while not shown((answer := await api.get(url)).status_code, answer.json()):
        assert time.monotonic() < deadline, f"{url} still {answer.status_code} {answer.text}"
        await asyncio.sleep(0.1)
