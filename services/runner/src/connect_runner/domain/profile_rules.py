"""The value rules of a profile import (spec §4.2, §4.3), applied while parsing, a batch of records at a time.

Each rule is a step over one record's values (staging order, the line number first): it rewrites its value in
place or names the reason that rejects the row; the first reason wins, in this order: an empty match column
(`MATCH_FIELD_EMPTY`), an empty channel the job wants (`CHANNEL_EMPTY`), an address that is none
(`INVALID_EMAIL`), a mobile number that is none (`INVALID_MOBILE_NUMBER`, else the number in E.164 and its
region in `MOBILE_COUNTRY_`), a hash match value that is no hex digest (`INVALID_DATA_FORMAT`). Permission and
format values are mapped to their codes, an empty one to the job's default. Only the rules of mapped columns
run; the values themselves are judged by `profile_values`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from connect_events import Channel, ImportProfileData
from connect_runner.domain.profile_plan import CHANNEL_COLUMNS, EMAIL, MOBILE, MOBILE_COUNTRY, ProfilePlan
from connect_runner.domain.profile_values import (
    HASH_KINDS,
    empty_channels,
    format_reader,
    normalize_email,
    normalize_hash,
    normalize_mobile,
    permission_reader,
)
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.value_formats import BatchReader, Record, Rejects

Values = list[Any]
Step = Callable[[Values], str | None]  # rewrites values in place; a reason rejects the row


def profile_reader(plan: ProfilePlan, settings: ImportProfileData) -> BatchReader | None:
    """Applies the profile rules to a batch of staged records; None: no rule applies to the mapped columns."""
    steps = _steps(plan, settings)
    return partial(_read, tuple(steps)) if steps else None


def _steps(plan: ProfilePlan, settings: ImportProfileData) -> list[Step]:
    slot = {c.column.name: c.slot for c in plan.list_columns}
    steps: list[Step] = [partial(_required, tuple(c.slot for c in plan.matches))]
    if settings.reject_if_channel_empty:
        channels = {channel: slot[CHANNEL_COLUMNS[channel]] for channel in settings.reject_if_channel_empty}
        steps.append(partial(_channels, channels, settings.reject_if_channel_empty))
    if EMAIL in slot:
        email = partial(normalize_email, mode=settings.email_check)
        steps.append(partial(_rewrite, slot[EMAIL], email, RejectReason.INVALID_EMAIL))
    if MOBILE in slot:
        mobile = partial(normalize_mobile, mode=settings.mobile_mode, country=settings.mobile_country)
        steps.append(partial(_mobile, slot[MOBILE], slot[MOBILE_COUNTRY], mobile))
    for name, kind in HASH_KINDS.items():
        if name in slot:
            steps.append(
                partial(_rewrite, slot[name], partial(normalize_hash, kind=kind), RejectReason.INVALID_DATA_FORMAT)
            )
    fills = {
        "EMAIL_PERMISSION_STATUS_": permission_reader(settings.email_permission),
        "MOBILE_PERMISSION_STATUS_": permission_reader(settings.mobile_permission),
        "EMAIL_FORMAT_": format_reader(settings.email_format),
    }
    steps.extend(partial(_fill, slot[name], read) for name, read in fills.items() if name in slot)
    return steps


def _read(steps: Sequence[Step], records: list[Record], rejects: Rejects) -> list[Record]:
    kept: list[Record] = []
    for record in records:
        values = list(record)
        for step in steps:
            reason = step(values)
            if reason is not None:
                rejects.append((record[0], reason))
                break
        else:
            kept.append(tuple(values))
    return kept


def _required(slots: tuple[int, ...], values: Values) -> str | None:
    for slot in slots:
        if values[slot] is None:
            return RejectReason.MATCH_FIELD_EMPTY
    return None


def _channels(slots: dict[Channel, int], wanted: tuple[Channel, ...], values: Values) -> str | None:
    empty = empty_channels({channel: values[slot] for channel, slot in slots.items()}, wanted)
    return None if empty is None else RejectReason.CHANNEL_EMPTY


def _rewrite(slot: int, read: Callable[[str], str | None], reason: str, values: Values) -> str | None:
    value = values[slot]
    if value is not None:
        values[slot] = read(value)
        if values[slot] is None:
            return reason
    return None


def _mobile(slot: int, country_slot: int, read: Callable[[str], tuple[str, str] | None], values: Values) -> str | None:
    value = values[slot]
    if value is None:
        return None
    found = read(value)
    if found is None:
        return RejectReason.INVALID_MOBILE_NUMBER
    values[slot], values[country_slot] = found
    return None


def _fill(slot: int, read: Callable[[str | None], str], values: Values) -> str | None:
    values[slot] = read(values[slot])
    return None
