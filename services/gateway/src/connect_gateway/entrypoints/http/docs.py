"""The OpenAPI document and its docs page, served with the Swagger UI files the `fastapi-offline` package ships.

FastAPI's default page loads Swagger UI from a CDN; these machines (and many production networks) reach none,
so the page would stay blank. Serving the files from the package keeps `/docs` self-contained. (Its Swagger UI
is a 5.x release, which renders the OpenAPI 3.1 documents FastAPI writes; 4.x does not.) The page starts
Swagger UI from a script file, not an inline script, so its Content-Security-Policy allows this server's
scripts only. Both routes are ordinary API routes, so the access table decides who may read them
(`GATEWAY_DOCS`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
INIT = "/docs-init"
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"
INIT_DIR = Path(__file__).parent / "static"
DOCS_URL = "/docs"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init}/docs-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI, openapi_url: str) -> None:
    """Serve `GET /openapi.json`, `GET /docs` and the files the page needs."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")
    app.mount(INIT, StaticFiles(directory=INIT_DIR), name="docs-init")
    page = PAGE.format(title=html.escape(f"{app.title} — docs"), assets=ASSETS, init=INIT, openapi_url=openapi_url)

    @app.get(openapi_url, include_in_schema=False)
    async def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document)

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)
