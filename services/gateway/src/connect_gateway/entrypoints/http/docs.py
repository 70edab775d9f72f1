"""The OpenAPI docs page, served with the Swagger UI files that the `fastapi-offline` package ships.

FastAPI's default page loads Swagger UI from a CDN; these machines (and many production networks) reach none,
so the page would stay blank. Serving the files from the package keeps `/docs` self-contained. (Its Swagger UI
is a 5.x release, which renders the OpenAPI 3.1 documents FastAPI writes; 4.x does not.)
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI, openapi_url: str) -> None:
    """Serve `GET /docs` and the Swagger UI files it needs."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
