"""The OpenAPI document states each operation's access rule: its security schemes, roles, 401 and 403.

Generated from the same access table `authorize` checks, so the document cannot drift from the behaviour
(and schema-driven clients and fuzzers know which calls need credentials).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from connect_gateway.domain.compat import is_compat
from connect_gateway.domain.identity.access import Access, document_path
from connect_gateway.domain.identity.roles import ORDER
from connect_gateway.entrypoints.http.auth import SESSION_COOKIE

ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
SCHEMES = {
    "token": {"type": "http", "scheme": "bearer", "description": "An API token from POST /api/v1/tokens"},
    "responsysToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The Responsys-compatible surface: the `authToken` of POST /rest/api/v1.3/auth/token, "
        "as it is (no scheme)",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session of POST /api/v1/auth/login; changes also need the X-CSRF-Token header",
    },
}


def install(app: FastAPI, access: dict[tuple[str, str], Access]) -> None:
    """Replace `app.openapi` by a generator that adds the access rules."""

    def generate() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            annotate(document, access)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = generate  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def annotate(document: dict[str, Any], access: dict[tuple[str, str], Access]) -> None:
    """Add security requirements, the roles and the 401/403 answers to each operation that needs them."""
    document.setdefault("components", {}).setdefault("securitySchemes", {}).update(SCHEMES)
    documented = {(method, document_path(path)): rule for (method, path), rule in access.items()}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            rule = documented.get((method.upper(), path))
            if is_compat(path):  # refused fields are its 400 INVALID_PARAMETER, as the original answers them
                operation.get("responses", {}).pop("422", None)
            if rule is None or rule.roles is None:
                continue
            roles = ", ".join(r.value for r in ORDER if r in rule.roles)
            operation["description"] = f"{operation.get('description', '')}\n\nRoles: {roles}.".strip()
            if is_compat(path):  # its own credential and envelope: the 401s are in the routes' own answers
                operation["security"] = [{"responsysToken": []}]
                continue
            operation["security"] = [{"token": []}, {"session": []}]
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "No valid credentials", **ERROR_REF})
            responses.setdefault(
                "403", {"description": "The role may not do this, or the CSRF token is missing", **ERROR_REF}
            )
