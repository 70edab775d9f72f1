"""Which methods a path takes, for the `Allow` header of a 405.

The router answers 405 from the first route whose path matches, so its `Allow` names only that route's
method (`OPTIONS /api/v1/jobs/24` said `GET`, though PUT and DELETE work too). The OpenAPI document lists
every operation of every path, so the header is built from it.
"""

from __future__ import annotations

import re

from fastapi import FastAPI

_PARAMETER = re.compile(r"\\\{[^/]+?\\\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The documented methods of the path `path` matches, sorted; empty for an undocumented path."""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = _table(app)
        app.state.allowed_methods = table  # the document does not change once the app serves
    return next((methods for pattern, methods in table if pattern.fullmatch(path)), [])


def _table(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    table = []
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.compile(_PARAMETER.sub("[^/]+", re.escape(template)))
        table.append((pattern, sorted(m.upper() for m in operations if m in _METHODS)))
    return table
