"""The marketing-API client's pure parts: pacing to a per-minute limit, the API's per-record answers, the merge
rule as the API spells it."""

from __future__ import annotations

import pytest

from connect_events import MergeRule
from connect_runner.adapters.marketing_api import Backoff, Pacer, merge_rule, record_result


async def test_calls_are_spaced_to_stay_under_the_limit() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(120, clock=lambda: now[0], sleep=sleep)  # one call every 0.5 s
    await pacer.wait()
    await pacer.wait()
    now[0] += 0.2
    await pacer.wait()
    now[0] += 5
    await pacer.wait()
    assert slept == pytest.approx([0.5, 0.3])


def test_each_records_answer_is_its_riid_or_the_apis_code() -> None:
    assert record_result("1234") == "1234"
    assert record_result("MERGEFAILED: Record 3 = INVALID_EMAIL_ADDRESS: 'x' is bad") == (
        "INVALID_EMAIL_ADDRESS",
        "'x' is bad",
    )
    assert record_result("MERGEFAILED: Record 3 = <script>: no") == ("MERGE_FAILED", "no")  # only plain codes pass


def test_the_merge_rule_is_sent_as_the_api_names_it() -> None:
    rule = merge_rule(MergeRule(match_column_2="CUSTOMER_ID_", reject_if_channel_empty=("E", "M")))
    assert rule == {
        "insertOnNoMatch": True,
        "updateOnMatch": "REPLACE_ALL",
        "matchColumnName1": "EMAIL_ADDRESS_",
        "matchColumnName2": "CUSTOMER_ID_",
        "matchColumnName3": None,
        "matchOperator": "AND",
        "optinValue": "I",
        "optoutValue": "O",
        "htmlValue": "H",
        "textValue": "T",
        "defaultPermissionStatus": "OPTOUT",
        "rejectRecordIfChannelEmpty": "E,M",
    }
    assert merge_rule(MergeRule())["matchOperator"] == "NONE"
    assert Backoff(first_s=0.5, tries=4).waits() == [0.5, 1.0, 2.0]
