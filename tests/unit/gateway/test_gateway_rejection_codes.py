"""Every rejection code the scheduler can answer with has an API code (a missing one would be a 500)."""

from __future__ import annotations

from typing import get_args

from connect_events import RejectionCode
from connect_gateway.domain.errors import REJECTION
from connect_gateway.entrypoints.http.errors import STATUS


def test_every_rejection_code_maps_to_an_api_error_with_a_status() -> None:
    assert set(REJECTION) == set(get_args(RejectionCode))
    assert all(code in STATUS for code in REJECTION.values())
