"""Issue 9 item 2 over the REST API on the whole stack: an export job of an audience writes its file into the hosted
server's `download/` folder (gzip, count and ready files), downloadable over REST, with the run's log stages; a
dry run counts without writing; bad definitions are refused or saved as drafts naming their fields, and export
nothing."""

from __future__ import annotations

import gzip
import re
from typing import Any

import httpx

from connect_devstack.services import Services
from tests.e2e.helpers import create, wait_for_run
from tests.e2e.test_audiences_api import PEOPLE
from tests.e2e.test_profile_lists_api import profile_job, run, upload
from tests.marketing_api_server import FakeResponsys, marketing_api_server
from tests.polling import until


async def test_an_audience_is_exported_to_the_download_folder(api: httpx.AsyncClient, unique: str) -> None:
    members, loyalty, name = f"Members_{unique}", f"Loyalty_{unique}", f"Gold_{unique}"
    await create(
        api, "/api/v1/lists", {"name": members, "columns": [{"name": "TIER", "type": "text", "max_length": 10}]}
    )
    await create(
        api, "/api/v1/pets", {"name": loyalty, "list_name": members, "columns": [{"name": "POINTS", "type": "integer"}]}
    )
    path = await upload(api, f"upload/export_{unique}.csv", PEOPLE)
    mapping = [{"source": "EMAIL_ADDRESS_", "target": "EMAIL_ADDRESS_"}, {"source": "tier", "target": "TIER"}]
    job = await create(api, "/api/v1/jobs", profile_job(f"Load {unique}", path, members, loyalty, mapping))
    await run(api, job["job_id"])
    audience = {
        "name": name,
        "list_name": members,
        "pets": [loyalty],
        "filter": {"conditions": [{"column": "TIER", "operator": "equals", "values": ["gold"]}]},
        "columns": [{"column": "EMAIL_ADDRESS_"}, {"column": "POINTS", "pet": loyalty}],
    }
    await create(api, "/api/v1/audiences", audience)

    body: dict[str, Any] = {
        "type": "export_file",
        "name": f"Export gold {unique}",
        "source": {"kind": "audience", "audience": name},
        "destination": {"kind": "hosted", "path": f"download/gold_{unique}_%YYYY%.csv.gz"},
        "file": {"compression": "gzip", "quote": "always", "line_ending": "crlf"},
        "files": {"count_file": "cnt", "ready_file": "ready"},
        "activate": True,
    }
    export = await create(api, "/api/v1/jobs", body)
    shown = (await api.get(f"/api/v1/jobs/{export['job_id']}")).json()
    assert (shown["type"], shown["source"]["audience"], shown["destination"]["kind"]) == ("export_file", name, "hosted")
    assert (shown["file"]["compression"], shown["files"]["count_file"], shown["errors"]) == ("gzip", "cnt", [])

    dry = await api.post(f"/api/v1/jobs/{export['job_id']}/dry-run")
    assert dry.status_code == 202, dry.text
    dry_run = await wait_for_run(api, dry.json()["run"], {"succeeded", "failed"})
    assert (dry_run["status"], dry_run["counts"]["rows_read"]) == ("succeeded", 3)

    done = await run(api, export["job_id"])
    data_name = f"gold_{unique}_{done['requested_at'][:4]}.csv.gz"
    listing = await api.get("/api/v1/files", params={"folder": "download"})
    names = {entry["name"] for entry in listing.json()}
    assert {data_name, f"{data_name}.cnt", f"{data_name}.ready"} <= names
    assert not any(n.startswith(".") and unique in n for n in names), "no temporary file is left"
    downloaded = await api.get(f"/api/v1/files/download/{data_name}")
    assert downloaded.status_code == 200
    text = gzip.decompress(downloaded.content).decode()
    assert text == 'EMAIL_ADDRESS_,POINTS\r\n"ann@x.io","10"\r\n"bob@x.io","150"\r\n"fay@x.io",\r\n'
    assert (await api.get(f"/api/v1/files/download/{data_name}.cnt")).text == "3\n"
    assert (done["counts"]["rows_read"], done["counts"]["bytes_transferred"]) == (3, len(downloaded.content))
    log = (await api.get(done["log_url"])).json()
    messages = [line["message"] for line in log["lines"]]
    assert f"renamed to 'download/{data_name}'" in messages
    assert messages[-3:] == [
        f"wrote 'download/{data_name}.cnt' (3 rows)",
        f"wrote 'download/{data_name}.ready'",
        f"Succeeded: 3 rows written, {len(downloaded.content)} bytes",
    ]


async def test_bad_export_definitions_name_their_fields(api: httpx.AsyncClient, unique: str) -> None:
    base: dict[str, Any] = {
        "type": "export_file",
        "name": f"Bad export {unique}",
        "destination": {"kind": "hosted", "path": f"download/bad_{unique}.csv"},
    }
    quoted = await api.post("/api/v1/jobs", json={**base, "source": {"kind": "table", "table": 'x"; DROP TABLE y'}})
    assert quoted.status_code == 422
    assert [e["field"] for e in quoted.json()["errors"]] == ["source.table"]

    missing = {**base, "source": {"kind": "list", "list": f"Nowhere_{unique}", "columns": ["EMAIL_ADDRESS_"]}}
    missing["destination"] = {"kind": "hosted", "path": f"upload/bad_{unique}.csv.gz"}
    draft = await create(api, "/api/v1/jobs", missing)
    assert draft["state"] == "inactive"
    assert sorted((e["field"], e["message"]) for e in draft["errors"]) == [
        ("destination.path", "must be a file in the download/ folder of the hosted file server"),
        ("destination.path", "the name ends like a compressed file's: choose the compression, or another name"),
        ("source.list_name", f"no list named Nowhere_{unique}"),
    ]
    refused = await api.post(f"/api/v1/jobs/{draft['job_id']}/run")
    assert refused.status_code == 409, refused.text
    listing = (await api.get("/api/v1/files", params={"folder": "download"})).json()
    assert not any(unique in entry["name"] for entry in listing)


async def test_a_list_is_pushed_to_a_marketing_api(api: httpx.AsyncClient, unique: str) -> None:
    members = f"Push_{unique}"
    await create(
        api, "/api/v1/lists", {"name": members, "columns": [{"name": "TIER", "type": "text", "max_length": 10}]}
    )
    path = await upload(api, f"upload/push_{unique}.csv", PEOPLE)
    mapping = [{"source": "EMAIL_ADDRESS_", "target": "EMAIL_ADDRESS_"}, {"source": "tier", "target": "TIER"}]
    load = {
        "name": f"Load push {unique}",
        "type": "import_profile_data",
        "source": {"kind": "hosted", "path": path},
        "target": {"list": members},
        "mapping": mapping,
        "activate": True,
    }
    await run(api, (await create(api, "/api/v1/jobs", load))["job_id"])

    state = FakeResponsys()
    state.lists["CONTACTS"] = {("ann@x.io",): {"RIID_": "900"}, ("bob@x.io",): {"RIID_": "901"}}
    async with marketing_api_server(state) as server:
        body = {
            "type": "export_api",
            "name": f"Push {unique}",
            "source": {"kind": "list", "list": members, "columns": ["EMAIL_ADDRESS_", "TIER"]},
            "endpoint": {"url": server.url, "user": state.user, "password": state.password},
            "remote_list": "CONTACTS",
            "merge": {"insert_on_no_match": False},
            "activate": True,
        }
        job = await create(api, "/api/v1/jobs", body)
        assert job["errors"] == []
        done = await run(api, job["job_id"])
    assert (done["counts"]["rows_read"], done["counts"]["rejected"]) == (len(PEOPLE), len(PEOPLE) - 2)
    assert state.lists["CONTACTS"][("bob@x.io",)]["TIER"] == "gold"
    assert (state.logins, state.merges) == (1, 1)
    rejects = (await api.get(f"/api/v1/runs/{done['run_key']}/rejects.csv")).text.splitlines()
    assert len(rejects) == 1 + len(PEOPLE) - 2 and all("RECORD_NOT_FOUND" in line for line in rejects[1:])
    messages = [line["message"] for line in (await api.get(done["log_url"])).json()["lines"]]
    assert f"Succeeded: {len(PEOPLE)} rows written, {len(PEOPLE) - 2} rejected" in messages
    shown = (await api.get(f"/api/v1/jobs/{job['job_id']}")).json()
    assert state.password not in str(shown)


async def test_the_services_serve_readiness_and_the_catalog_run_metrics(
    api: httpx.AsyncClient, services: Services, unique: str
) -> None:
    """Issue 10's first slice: every service but the gateway (which has its own) serves liveness and readiness on
    its operations port with the shared plumbing's metrics, and the catalog's metrics count the runs it projected."""
    ports = {name: services.env[f"{name}_METRICS_PORT"] for name in ("CATALOG", "RUNNER", "SCHEDULER")}
    for name, port in ports.items():
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as ops:
            assert (await ops.get("/healthz")).json() == {"status": "ok"}
            ready = await ops.get("/readyz")
            assert (ready.status_code, ready.json()["checks"]) == (200, {"postgres": "ok", "kafka": "ok"}), name
    await test_an_audience_is_exported_to_the_download_folder(api, f"m{unique}")
    metrics: dict[str, str] = {}
    for name, port in ports.items():
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as ops:
            metrics[name] = (await ops.get("/metrics")).text
    for name in ("RUNNER", "SCHEDULER"):
        assert "connect_outbox_relay_lag_seconds_count" in metrics[name], name
        assert not re.search(r"^connect_outbox_published_total 0\.0$", metrics[name], re.M), name
    assert re.search(r'^connect_commands_total\{outcome="accepted",type="job.create"\} ', metrics["SCHEDULER"], re.M)
    catalog = metrics["CATALOG"].splitlines()
    finished = [
        line
        for line in catalog
        if line.startswith('connect_runs_finished_total{job_type="export_file",status="succeeded"}')
    ]
    assert finished and float(finished[0].rsplit(" ", 1)[1]) >= 2  # the dry run and the run
    assert 'connect_runs_requested_total{job_type="import_profile_data",trigger="manual"} ' in metrics["CATALOG"]
    assert "connect_projection_lag_seconds_bucket" in metrics["CATALOG"]
    lag = r'^connect_consumer_lag\{group="catalog",partition="\d+",topic="connect.runs"\} '
    assert re.search(lag, metrics["CATALOG"], re.M)
    assert 'connect_runs_running{job_type="export_file"} ' in metrics["CATALOG"]
    assert 'connect_dead_letters_total{group="catalog"} 0.0' in metrics["CATALOG"]
    assert 'connect_scheduler_due_backlog{kind="job"} ' in metrics["SCHEDULER"]

    # The stream statistics (a Faust worker of its own) count the export's runs, eventually.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{services.env['STATS_METRICS_PORT']}") as ops:
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]) == (200, {"tables": "ok"})

        async def counted() -> bool:
            return "export_file" in (await ops.get("/stats")).json()["job_types"]

        await until(counted, timeout_s=30)
        stats = (await ops.get("/metrics")).text
    assert 'connect_stats_failure_ratio{job_type="export_file",window="1h"} ' in stats
    assert 'connect_stats_run_duration_seconds{job_type="export_file",quantile="0.5"} ' in stats
