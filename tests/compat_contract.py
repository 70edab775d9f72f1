"""The Responsys v1.3 Connect contract: the documented request/response pairs, and the field-by-field comparison.

`tests/data/responsys/connect_api_v13.json` holds the pairs (written from Oracle's documentation); the gateway's
unit tests replay every one over fakes, and the e2e tests those that need no data against the whole stack.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "data" / "responsys" / "connect_api_v13.json"
CONTRACT: dict[str, Any] = json.loads(FIXTURE.read_text())


def matches(expected: Any, actual: Any, where: str = "body") -> None:
    """`actual` has exactly `expected`'s fields, nested alike, with equal values (placeholders: their kind)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert list(actual) == list(expected), f"{where}: fields {list(actual)} != documented {list(expected)}"
        for key, value in expected.items():
            matches(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items != documented {len(expected)}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            matches(want, got, f"{where}[{i}]")
    elif expected == "<token>":
        assert isinstance(actual, str) and actual.startswith("cnt_"), f"{where}: {actual!r} is not a token"
    elif expected == "<epoch-ms>":
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{where}: {actual!r}"
        assert abs(actual / 1000 - datetime.now().timestamp()) < 3600, f"{where}: {actual} is not a time of now"
    elif expected == "<int>":
        assert isinstance(actual, int) and not isinstance(actual, bool) and actual >= 0, f"{where}: {actual!r}"
    elif expected == "<string>":
        assert isinstance(actual, str) and actual, f"{where}: {actual!r}"
    else:
        assert type(actual) is type(expected) and actual == expected, f"{where}: {actual!r} != documented {expected!r}"
