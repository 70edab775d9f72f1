"""The gateway's `/metrics` (issue 10): HTTP latency by method, route template and status, served without a
token like `/healthz`; ids in paths never become labels."""

from __future__ import annotations

import httpx

from tests.unit.gateway.gateway_fakes import World, stored_job


async def test_requests_are_timed_by_route_template(world: World) -> None:
    stored_job(world, job_id=4321)
    assert (await world.client.get("/api/v1/jobs/4321")).status_code == 200
    assert (await world.client.get("/api/v1/no-such-thing")).status_code == 404
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as anonymous:
        answer = await anonymous.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert (
        'connect_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs/{job_id}",status="200"}' in text
    )
    assert 'route="unmatched",status="404"' in text
    assert "/api/v1/jobs/4321" not in text  # ids never become labels
