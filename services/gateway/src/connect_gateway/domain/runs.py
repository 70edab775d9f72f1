"""Run identifiers as users see them: `JobID.RunID`."""

from __future__ import annotations

import re

from connect_gateway.domain.errors import invalid
from connect_gateway.domain.limits import MAX_ID, MAX_INT

_RUN_KEY = re.compile(r"^([1-9][0-9]{0,18})\.([1-9][0-9]{0,9})$")


def parse_run_key(text: str, field: str = "run") -> tuple[int, int]:
    """`(job_id, run_id)` from `"1042.7"`; refuses anything else, ids out of range included."""
    match = _RUN_KEY.match(text)
    if match is None:
        raise invalid(field, "expected JobID.RunID, e.g. 1042.7")
    job_id, run_id = int(match.group(1)), int(match.group(2))
    if job_id > MAX_ID or run_id > MAX_INT:
        raise invalid(field, f"JobID must be at most {MAX_ID} and RunID at most {MAX_INT}")
    return job_id, run_id
