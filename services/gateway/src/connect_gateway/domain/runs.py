"""Run identifiers as users see them: `JobID.RunID`."""

from __future__ import annotations

import re

from connect_gateway.domain.errors import invalid

_RUN_KEY = re.compile(r"^([1-9][0-9]{0,17})\.([1-9][0-9]{0,8})$")


def parse_run_key(text: str, field: str = "run") -> tuple[int, int]:
    """`(job_id, run_id)` from `"1042.7"`; refuses anything else."""
    match = _RUN_KEY.match(text)
    if match is None:
        raise invalid(field, "expected JobID.RunID, e.g. 1042.7")
    return int(match.group(1)), int(match.group(2))
