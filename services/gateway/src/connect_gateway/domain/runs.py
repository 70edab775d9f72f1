"""Run identifiers as users see them: `JobID.RunID`."""

from __future__ import annotations

import re

from connect_gateway.domain.errors import invalid

# At most 18 digits of JobID and 9 of RunID: within PostgreSQL's bigint and int, so that every key the
# pattern admits can be looked up (ids are assigned one by one and never come near these bounds).
RUN_KEY_PATTERN = r"^[1-9][0-9]{0,17}\.[1-9][0-9]{0,8}$"
_RUN_KEY = re.compile(RUN_KEY_PATTERN)
RUN_KEY_FORM = "expected JobID.RunID, e.g. 1042.7"


def run_key_problem(text: str) -> str | None:
    """Why `text` is not a run key (the pattern also bounds the ids)."""
    return None if _RUN_KEY.fullmatch(text) else RUN_KEY_FORM


def parse_run_key(text: str, field: str = "run") -> tuple[int, int]:
    """`(job_id, run_id)` from `"1042.7"`; refuses anything else, ids out of range included."""
    problem = run_key_problem(text)
    if problem is not None:
        raise invalid(field, problem)
    job_id, run_id = text.split(".")
    return int(job_id), int(run_id)
