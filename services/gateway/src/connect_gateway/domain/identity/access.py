"""Who may call which route: one declarative table, checked for every request by one dependency.

A route missing from the table fails `create_app` (and the authorisation matrix test), so no endpoint is
ever born open by accident. Finer rules that depend on the object (your own tokens, your own password) are
the handlers'; this table is the floor every request must pass first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from connect_events import Role
from connect_gateway.domain.identity.roles import ORDER, at_least


@dataclass(frozen=True)
class Access:
    """`roles` None: open to anyone, no credentials read; otherwise the roles allowed."""

    roles: frozenset[Role] | None

    @property
    def public(self) -> bool:
        """Whether the route needs no credentials."""
        return self.roles is None


class DocsAccess(StrEnum):
    """Who may read `/docs` and `/openapi.json` (the `GATEWAY_DOCS` setting)."""

    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    OFF = "off"


PUBLIC = Access(None)
ANY_USER = Access(frozenset(ORDER))
VIEWER = Access(at_least(Role.VIEWER))
OPERATOR = Access(at_least(Role.OPERATOR))
DATA_DIRECTOR = Access(at_least(Role.DATA_DIRECTOR))
ADMIN = Access(at_least(Role.ADMIN))

DOCS_ROUTES = (("GET", "/docs"), ("GET", "/openapi.json"))

ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # Counters and latencies only (no job, user or file names): Prometheus scrapes it without a token.
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY_USER,
    ("GET", "/api/v1/auth/session"): ANY_USER,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{username}"): ADMIN,
    ("PUT", "/api/v1/users/{username}/role"): ADMIN,
    ("POST", "/api/v1/users/{username}/disable"): ADMIN,
    ("POST", "/api/v1/users/{username}/enable"): ADMIN,
    # Your own password with the current one; an admin may set anyone's (checked by the handler).
    ("PUT", "/api/v1/users/{username}/password"): ANY_USER,
    # Your own tokens; an admin may list, issue and revoke anyone's (checked by the handler).
    ("GET", "/api/v1/tokens"): ANY_USER,
    ("POST", "/api/v1/tokens"): ANY_USER,
    ("DELETE", "/api/v1/tokens/{token_id}"): ANY_USER,
    ("GET", "/api/v1/tables"): VIEWER,
    ("GET", "/api/v1/tables/{name}"): VIEWER,
    ("POST", "/api/v1/tables"): DATA_DIRECTOR,
    # Reads only (a header given, or a hosted file's header line): anyone who may read tables and files.
    ("POST", "/api/v1/tables/{name}/auto-mapping"): VIEWER,
    # Profile lists and PETs: defined and extended like tables, their rows and counts read like tables.
    ("GET", "/api/v1/lists"): VIEWER,
    ("GET", "/api/v1/lists/{name}"): VIEWER,
    ("POST", "/api/v1/lists"): DATA_DIRECTOR,
    ("POST", "/api/v1/lists/{name}/columns"): DATA_DIRECTOR,
    ("GET", "/api/v1/lists/{name}/rows"): VIEWER,
    ("GET", "/api/v1/lists/{name}/count"): VIEWER,
    ("POST", "/api/v1/lists/{name}/auto-mapping"): VIEWER,
    ("GET", "/api/v1/audiences"): VIEWER,
    ("GET", "/api/v1/audiences/{name}"): VIEWER,
    ("GET", "/api/v1/audiences/{name}/rows"): VIEWER,
    ("POST", "/api/v1/audiences/preview"): VIEWER,
    ("POST", "/api/v1/audiences"): DATA_DIRECTOR,
    ("PUT", "/api/v1/audiences/{name}"): DATA_DIRECTOR,
    ("DELETE", "/api/v1/audiences/{name}"): DATA_DIRECTOR,
    ("GET", "/api/v1/pets"): VIEWER,
    ("GET", "/api/v1/pets/{name}"): VIEWER,
    ("POST", "/api/v1/pets"): DATA_DIRECTOR,
    ("POST", "/api/v1/pets/{name}/columns"): DATA_DIRECTOR,
    ("GET", "/api/v1/pets/{name}/rows"): VIEWER,
    ("GET", "/api/v1/pets/{name}/count"): VIEWER,
    ("GET", "/api/v1/jobs"): VIEWER,
    ("GET", "/api/v1/jobs/{job_id}"): VIEWER,
    ("POST", "/api/v1/jobs"): DATA_DIRECTOR,
    ("PUT", "/api/v1/jobs/{job_id}"): DATA_DIRECTOR,
    ("DELETE", "/api/v1/jobs/{job_id}"): DATA_DIRECTOR,
    ("POST", "/api/v1/jobs/{job_id}/activate"): DATA_DIRECTOR,
    ("POST", "/api/v1/jobs/{job_id}/deactivate"): DATA_DIRECTOR,
    ("POST", "/api/v1/jobs:delete"): DATA_DIRECTOR,
    ("POST", "/api/v1/jobs/{job_id}/copy"): DATA_DIRECTOR,
    ("GET", "/api/v1/jobs/{job_id}/history"): VIEWER,
    ("POST", "/api/v1/jobs/{job_id}/run"): OPERATOR,
    ("POST", "/api/v1/jobs/{job_id}/dry-run"): OPERATOR,
    ("POST", "/api/v1/jobs/{job_id}/runs/{run_id}/stop"): OPERATOR,
    ("GET", "/api/v1/runs"): VIEWER,
    ("GET", "/api/v1/runs/{run}"): VIEWER,
    ("GET", "/api/v1/runs/{run}/log"): VIEWER,
    ("GET", "/api/v1/runs/{run}/rejects.csv"): VIEWER,
    ("GET", "/api/v1/commands/{command_id}"): VIEWER,
    ("GET", "/api/v1/groups"): VIEWER,
    ("GET", "/api/v1/groups/{group_id}"): VIEWER,
    ("POST", "/api/v1/groups"): DATA_DIRECTOR,
    ("PUT", "/api/v1/groups/{group_id}"): DATA_DIRECTOR,
    ("DELETE", "/api/v1/groups/{group_id}"): DATA_DIRECTOR,
    ("POST", "/api/v1/groups/{group_id}/run"): OPERATOR,
    ("POST", "/api/v1/groups/{group_id}/runs/{run_id}/stop"): OPERATOR,
    ("GET", "/api/v1/groups/{group_id}/runs"): VIEWER,
    ("GET", "/api/v1/groups/{group_id}/runs/{run_id}"): VIEWER,
    # The hosted file server: reading is everyone's, writing an operator's (the SFTP endpoint applies the same).
    ("GET", "/api/v1/files"): VIEWER,
    ("GET", "/api/v1/files/{path:path}"): VIEWER,
    ("PUT", "/api/v1/files/{path:path}"): OPERATOR,
    ("DELETE", "/api/v1/files/{path:path}"): OPERATOR,
    ("POST", "/api/v1/folders"): OPERATOR,
    # Your own SSH keys; an admin may list, register and remove anyone's (checked by the use case).
    ("GET", "/api/v1/ssh-keys"): ANY_USER,
    ("POST", "/api/v1/ssh-keys"): ANY_USER,
    ("DELETE", "/api/v1/ssh-keys/{key_id}"): ANY_USER,
    # The Responsys-compatible surface (spec §8.2): the same roles as the /api/v1 calls it stands for.
    ("POST", "/rest/api/v1.3/auth/token"): PUBLIC,  # a password login, or a refresh that checks its own token
    ("GET", "/rest/api/v1.3/connectJobs"): VIEWER,
    ("PUT", "/rest/api/v1.3/connectJobs/trigger"): OPERATOR,
    ("PUT", "/rest/api/v1.3/connectJobs/{jobId}/trigger"): OPERATOR,
    ("GET", "/rest/api/v1.3/connectJobs/{jobId}/jobRuns"): VIEWER,
    ("GET", "/rest/api/v1.3/connectJobs/{jobId}/jobRuns/{jobRunId}/status"): VIEWER,
    ("GET", "/rest/api/v1.3/connectJobs/{jobId}/jobRuns/{jobRunId}/logs"): VIEWER,
    ("GET", "/rest/api/ratelimit"): ANY_USER,
}


def document_path(route_path: str) -> str:
    """A route's path as the OpenAPI document writes it: `{path:path}` becomes `{path}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route_path)


def docs_access(setting: DocsAccess) -> Access | None:
    """The rule of the docs routes under `setting`; None when they are not served at all."""
    return {DocsAccess.PUBLIC: PUBLIC, DocsAccess.AUTHENTICATED: ANY_USER, DocsAccess.OFF: None}[setting]


def rules(docs: DocsAccess) -> dict[tuple[str, str], Access]:
    """The whole table for a gateway serving its docs under `docs`."""
    rule = docs_access(docs)
    return ROUTES if rule is None else {**ROUTES, **dict.fromkeys(DOCS_ROUTES, rule)}
