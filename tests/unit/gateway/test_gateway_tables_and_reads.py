"""Tables (define, read), jobs and runs from the read models, health and readiness."""

from __future__ import annotations

from datetime import timedelta

from connect_events import ColumnSpec, ColumnType, DefineTable, FieldError, RunCounts, TableSpec
from connect_gateway.read_models import LogLine, RunRecord, TableRecord
from tests.unit.gateway.gateway_fakes import NOW, World, accepted, rejected, stored_job

TABLE = {
    "name": "Stores",
    "columns": [
        {"name": "STORE_ID", "type": "integer"},
        {"name": "CITY", "type": "text", "max_length": 50},
        {"name": "REVENUE", "type": "number", "precision": 12, "scale": 2},
    ],
    "primary_key": ["STORE_ID"],
}


def run(job_id: int, run_id: int, status: str, minutes: int) -> RunRecord:
    return RunRecord(
        job_id=job_id,
        run_id=run_id,
        job_name=f"job {job_id}",
        job_deleted=False,
        status=status,
        trigger="manual",
        attempt=1,
        counts=RunCounts(rows_read=10, inserted=7, updated=1, unchanged=1, rejected=1, bytes_transferred=300),
        total_bytes=300,
        stage=None,
        error_code="LOAD_FAILED" if status == "failed" else None,
        error="boom" if status == "failed" else None,
        requested_at=NOW + timedelta(minutes=minutes),
        started_at=NOW + timedelta(minutes=minutes),
        finished_at=NOW + timedelta(minutes=minutes, seconds=2),
        duration_ms=2000,
    )


async def test_define_table_maps_the_body(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="stores")
    response = await world.client.post("/api/v1/tables", json=TABLE)
    assert response.status_code == 201
    assert response.json() == {"name": "Stores", "url": "/api/v1/tables/Stores"}
    [command] = world.bus.sent
    assert isinstance(command, DefineTable)
    assert command.partition_key == "stores"
    assert command.payload.table == TableSpec(
        name="Stores",
        columns=(
            ColumnSpec(name="STORE_ID", type=ColumnType.INTEGER),
            ColumnSpec(name="CITY", type=ColumnType.TEXT, max_length=50),
            ColumnSpec(name="REVENUE", type=ColumnType.NUMBER, precision=12, scale=2),
        ),
        primary_key=("STORE_ID",),
    )


async def test_rejected_table_names_the_request_fields(world: World) -> None:
    errors = (FieldError(field="table.columns[1].name", message="duplicate column"),)
    world.bus.answer = lambda c: rejected(c, "validation", "invalid table", errors)
    response = await world.client.post("/api/v1/tables", json=TABLE)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "columns[1].name", "message": "duplicate column"}]


async def test_existing_table_is_a_conflict(world: World) -> None:
    world.bus.answer = lambda c: rejected(c, "conflict", "table stores exists")
    response = await world.client.post("/api/v1/tables", json=TABLE)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


async def test_unknown_column_type_is_a_field_error(world: World) -> None:
    body = {**TABLE, "columns": [{"name": "X", "type": "blob"}]}
    response = await world.client.post("/api/v1/tables", json=body)
    assert [e["field"] for e in response.json()["errors"]] == ["columns[0].type"]


async def test_read_tables(world: World) -> None:
    spec = TableSpec(name="Stores", columns=(ColumnSpec(name="ID", type=ColumnType.INTEGER),), primary_key=("ID",))
    world.reads.tables.append(TableRecord(spec=spec, defined_at=NOW, defined_by="ann"))
    listed = (await world.client.get("/api/v1/tables")).json()
    assert [t["name"] for t in listed] == ["Stores"]
    one = (await world.client.get("/api/v1/tables/stores")).json()
    assert one["columns"] == [{"name": "ID", "type": "integer", "max_length": None, "precision": None, "scale": None}]
    assert one["defined_by"] == "ann"
    missing = await world.client.get("/api/v1/tables/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_read_a_job_without_secrets(world: World) -> None:
    stored_job(world)
    response = await world.client.get("/api/v1/jobs/7")
    assert response.status_code == 200
    job = response.json()
    assert job["version"] == 3
    assert job["source"] == {
        "kind": "sftp",
        "host": "sftp.example.com",
        "port": 2222,
        "user": "acme",
        "path": "upload/old.csv",
        "host_key": "ssh-ed25519 AAAAold",
        "host_key_fingerprint": "SHA256:old",
    }
    assert "credential_ref" not in response.text
    assert job["target"]["table"] == "Stores"
    assert job["schedule"] == {
        "kind": "on_demand",
        "time_zone": None,
        "start_window": None,
        "at": None,
        "time": None,
        "days": None,
        "day": None,
        "expression": None,
    }
    assert (job["errors"], job["has_errors"], job["group"], job["next_run_at"]) == ([], False, None, None)
    assert (await world.client.get("/api/v1/jobs/8")).status_code == 404


async def test_list_jobs_filters(world: World) -> None:
    stored_job(world, job_id=9)
    stored_job(world, job_id=2)
    listed = (await world.client.get("/api/v1/jobs")).json()
    assert [j["job_id"] for j in listed] == [2, 9]
    assert listed[0]["type"] == "import_custom_table" and "source" not in listed[0]
    assert (await world.client.get("/api/v1/jobs?state=active")).json() == []
    assert len((await world.client.get("/api/v1/jobs?q=STORES")).json()) == 2


async def test_runs_newest_first_with_counts(world: World) -> None:
    world.reads.runs += [run(1, 1, "succeeded", 0), run(1, 2, "failed", 5), run(2, 1, "running", 3)]
    items = (await world.client.get("/api/v1/runs")).json()
    assert [r["id"] for r in items] == ["1.2", "2.1", "1.1"]
    failed = items[0]
    assert failed["counts"] == {
        "rows_read": 10,
        "inserted": 7,
        "updated": 1,
        "unchanged": 1,
        "rejected": 1,
        "bytes_transferred": 300,
        "skipped": 0,
        "duplicates": 0,
        "filtered": 0,
    }
    assert (failed["error_code"], failed["error"], failed["duration_ms"]) == ("LOAD_FAILED", "boom", 2000)
    assert failed["attempt"] == 1 and failed["job_name"] == "job 1"
    only = (await world.client.get("/api/v1/runs?job_id=1&status=succeeded")).json()
    assert [r["id"] for r in only] == ["1.1"]


async def test_one_run_and_its_log(world: World) -> None:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.reads.logs[(4, 2)] = [LogLine(at=NOW, level="INFO", message="file found")]
    assert (await world.client.get("/api/v1/runs/4.2")).json()["status"] == "succeeded"
    log = (await world.client.get("/api/v1/runs/4.2/log")).json()
    assert log["run"] == "4.2"
    assert [(line["level"], line["message"]) for line in log["lines"]] == [("INFO", "file found")]
    assert (await world.client.get("/api/v1/runs/4.3")).status_code == 404
    assert (await world.client.get("/api/v1/runs/4.3/log")).status_code == 404


async def test_health_and_readiness(world: World) -> None:
    assert (await world.client.get("/healthz")).json()["status"] == "ok"
    ready = await world.client.get("/readyz")
    assert ready.status_code == 200
    world.bus.is_ready = False
    world.reads.down = True
    not_ready = await world.client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"] == {
        "catalog": "ConnectionRefusedError",
        "vault": "ok",
        "identity": "ok",
        "replies": "reply listener not running",
    }
