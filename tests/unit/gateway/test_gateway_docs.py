"""The OpenAPI docs page works without a CDN: its Swagger UI files come from the gateway itself."""

from __future__ import annotations

import re

from tests.unit.gateway.gateway_fakes import World


async def test_docs_page_loads_swagger_ui_from_the_gateway(world: World) -> None:
    page = await world.client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets and all(a.startswith(("/docs-assets/", "/docs-init/")) for a in assets), assets
    assert "<script>" not in page.text  # no inline script: the page's policy allows this server's files only
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in assets:
        served = await world.client.get(asset)
        assert served.status_code == 200 and len(served.content) > 400, asset


async def test_openapi_document_lists_the_api(world: World) -> None:
    spec = (await world.client.get("/openapi.json")).json()
    assert {"/api/v1/jobs", "/api/v1/tables", "/api/v1/runs", "/api/v1/jobs/{job_id}/run"} <= set(spec["paths"])
