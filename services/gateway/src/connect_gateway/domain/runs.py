"""Run identifiers as users see them: `JobID.RunID`."""

from __future__ import annotations

import re

from connect_gateway.domain.errors import invalid
from connect_gateway.domain.limits import MAX_ID, MAX_INT

RUN_KEY_PATTERN = r"^[1-9][0-9]{0,18}\.[1-9][0-9]{0,9}$"
_RUN_KEY = re.compile(RUN_KEY_PATTERN)
RUN_KEY_FORM = "expected JobID.RunID, e.g. 1042.7"


def run_key_problem(text: str) -> str | None:
    """Why `text` is not a run key: not of the form, or an id out of range."""
    if not _RUN_KEY.fullmatch(text):
        return RUN_KEY_FORM
    job_id, run_id = text.split(".")
    if int(job_id) > MAX_ID or int(run_id) > MAX_INT:
        return f"JobID must be at most {MAX_ID} and RunID at most {MAX_INT}"
    return None


def parse_run_key(text: str, field: str = "run") -> tuple[int, int]:
    """`(job_id, run_id)` from `"1042.7"`; refuses anything else, ids out of range included."""
    problem = run_key_problem(text)
    if problem is not None:
        raise invalid(field, problem)
    job_id, run_id = text.split(".")
    return int(job_id), int(run_id)
