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


async def test_a_batch_too_large_for_one_call_goes_in_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    from connect_events import ApiEndpoint, ExportApi, ListExport
    from connect_runner import pushing
    from connect_runner.adapters.marketing_api import Merged
    from connect_runner.domain.failures import RunFailure
    from connect_runner.progress import Tracker

    monkeypatch.setattr(pushing, "BODY_OVERHEAD", 0)
    monkeypatch.setattr(pushing, "MAX_BODY_BYTES", 100)
    sent: list[int] = []

    class Api:
        async def merge(self, _list: str, _fields: object, records: list[list[str]], _rule: object) -> Merged:
            sent.append(len(records))
            return Merged(["1"] * len(records))

    async def checkpoint() -> None:
        return None

    settings = ExportApi(
        source=ListExport(list_name="L"),
        endpoint=ApiEndpoint(url="https://x.example", user="u", credential_ref="00000000-0000-0000-0000-000000000001"),
        remote_list="R",
    )
    pushed = pushing.Pushed()
    batch = [["x" * 10] for _ in range(8)]  # 23 bytes each by the estimate: 4 fit in 100
    await pushing._merge(Api(), settings, ["A"], batch, pushed, Tracker(), checkpoint)  # type: ignore[arg-type]
    assert (sent, pushed.rows) == ([4, 4], 8)
    with pytest.raises(RunFailure) as failure:
        await pushing._merge(Api(), settings, ["A"], [["y" * 60]], pushed, Tracker(), checkpoint)  # type: ignore[arg-type]
    assert failure.value.message == "record 9 is larger than the API takes in one call (10 MB)"
