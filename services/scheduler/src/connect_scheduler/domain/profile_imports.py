"""The rules of an *import profile data* job's own settings (spec §4.3, ADR 0011), against its list and PETs as
they are now: what may be mapped, the match columns and their forbidden combinations, the PETs, the value
mappings, the mobile mode and the channel rules. The rules every import shares are the caller's
(`domain/validation.py`); mappings follow `domain/mappings.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

from connect_events import (
    ASSIGNED_COLUMNS,
    DERIVED_COLUMNS,
    HASH_COLUMNS,
    MATCH_COLUMNS,
    RIID,
    Channel,
    FieldError,
    ImportProfileData,
    ListSpec,
)
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.mappings import Mapped
from connect_scheduler.domain.targets import Profile

EMAIL = "EMAIL_ADDRESS_"
# The column that holds each channel's address: a row is rejected when it is empty (`reject_if_channel_empty`).
CHANNEL_COLUMNS: Mapping[Channel, tuple[str, str]] = {
    "E": (EMAIL, "e-mail address"),
    "M": ("MOBILE_NUMBER_", "mobile number"),
    "P": ("POSTAL_STREET_1_", "postal street"),
}
COUNTRY_CODE = re.compile(r"[A-Z]{2}")


def profile_errors(settings: ImportProfileData, profile: Profile) -> list[FieldError]:
    """Every problem of a profile import's own settings against `profile`, naming fields."""
    errors = _list_errors(settings, profile.list)
    table = None if profile.list is None else profile.list.as_table()
    mapped = Mapped("settings.mapping", "list", table, header=settings.file.header)
    errors += mapped.errors(settings.mapping, partial(_unwritable, matched=_match_columns(settings)))
    errors += match_errors(settings)
    if settings.mapping:
        errors += _unmapped_errors(settings, mapped.targets)
    errors += _pets_errors(settings, profile)
    for name, permission in (
        ("email_permission", settings.email_permission),
        ("mobile_permission", settings.mobile_permission),
    ):
        errors += _choices_errors(f"settings.{name}", {"opt_in": permission.opt_in, "opt_out": permission.opt_out})
    formats = settings.email_format
    errors += _choices_errors("settings.email_format", {"html": formats.html, "text": formats.text})
    return errors + _mobile_errors(settings)


def match_errors(settings: ImportProfileData) -> list[FieldError]:
    """The forbidden match-column combinations (spec §4.3): a column twice, two hashes, an address with a hash of
    it; and inserting when matching on a hash or `RIID_`, values a new row cannot be made from."""
    first, second = settings.match_column_1, settings.match_column_2
    errors: list[FieldError] = []
    if second is not None:
        pair = {first, second}
        if second == first:
            errors.append(FieldError(field="settings.match_column_2", message="must differ from match_column_1"))
        elif pair <= HASH_COLUMNS:
            errors.append(FieldError(field="settings.match_column_2", message="two hash columns cannot be combined"))
        elif EMAIL in pair and pair & HASH_COLUMNS:
            message = f"{EMAIL} cannot be combined with a hash of it"
            errors.append(FieldError(field="settings.match_column_2", message=message))
    if settings.insert_on_no_match and (column := next((c for c in (first, second) if _cannot_insert(c)), None)):
        why = "the store assigns it" if column == RIID else "a new row needs the address itself"
        message = f"rows cannot be inserted when matching on {column} ({why}); set insert_on_no_match to false"
        errors.append(FieldError(field="settings.insert_on_no_match", message=message))
    return errors


def _cannot_insert(column: str | None) -> bool:
    return column == RIID or column in HASH_COLUMNS


def _match_columns(settings: ImportProfileData) -> frozenset[str]:
    return frozenset(c for c in (settings.match_column_1, settings.match_column_2) if c is not None)


def _list_errors(settings: ImportProfileData, spec: ListSpec | None) -> list[FieldError]:
    if unfit := text_errors("settings.list_name", settings.list_name):
        return unfit
    if spec is None:
        return [FieldError(field="settings.list_name", message=f"no list named {settings.list_name}")]
    return []


def _unwritable(column: str, matched: frozenset[str]) -> str | None:
    """Why a list column may not be mapped: the store computes or assigns it. A match column may still be, to
    match on: it is compared, never written."""
    if column in matched:
        return None
    if column in DERIVED_COLUMNS:
        return f"{column} is computed from {EMAIL}" + (
            " (map it only to match on it)" if column in HASH_COLUMNS else ""
        )
    if column in ASSIGNED_COLUMNS:
        return f"{column} is set by the store" + (" (map it only to match on it)" if column in MATCH_COLUMNS else "")
    return None


def _unmapped_errors(settings: ImportProfileData, mapped: set[str]) -> list[FieldError]:
    """Each match column is mapped (a row is matched by the file's value); so is each channel column a row must
    not leave empty."""
    errors = [
        FieldError(field=f"settings.{field}", message=f"map a source column to {column} to match on it")
        for field, column in (("match_column_1", settings.match_column_1), ("match_column_2", settings.match_column_2))
        if column is not None and column.lower() not in mapped
    ]
    seen: set[Channel] = set()
    for i, channel in enumerate(settings.reject_if_channel_empty):
        field = f"settings.reject_if_channel_empty[{i}]"
        column, words = CHANNEL_COLUMNS[channel]
        if channel in seen:
            errors.append(FieldError(field=field, message=f"channel {channel} is listed twice"))
        elif column.lower() not in mapped:
            message = f"map a source column to {column} to reject rows without a {words}"
            errors.append(FieldError(field=field, message=message))
        seen.add(channel)
    return errors


def _pets_errors(settings: ImportProfileData, profile: Profile) -> list[FieldError]:
    """Each PET once, defined, of the job's list; its mapping into its own columns (never `RIID_`, which comes
    from the list row the file row matched)."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, named in enumerate(settings.pets):
        field = f"settings.pets[{i}]"
        pet = None
        if unfit := text_errors(f"{field}.pet", named.pet):
            errors += unfit
        elif named.pet.lower() in seen:
            errors.append(FieldError(field=f"{field}.pet", message=f"PET {named.pet} is named twice"))
        elif (pet := profile.pet(named.pet)) is None:
            errors.append(FieldError(field=f"{field}.pet", message=f"no PET named {named.pet}"))
        elif pet.list_name.lower() != settings.list_name.lower():
            message = f"PET {pet.name} belongs to list {pet.list_name}, not {settings.list_name}"
            errors.append(FieldError(field=f"{field}.pet", message=message))
        seen.add(named.pet.lower())
        mapped = Mapped(f"{field}.mapping", "PET", None if pet is None else pet.as_table(), header=settings.file.header)
        errors += mapped.errors(named.mapping, _pet_unwritable)
    return errors


def _pet_unwritable(column: str) -> str | None:
    return f"{RIID} comes from the list row the file row matched" if column == RIID else None


def _choices_errors(field: str, choices: Mapping[str, tuple[str, ...]]) -> list[FieldError]:
    """The source values of a value mapping's choices (by name, of the mapping at `field`): each a non-blank
    single line, none in two choices (compared trimmed and case-insensitively, as the runner reads them)."""
    errors: list[FieldError] = []
    owner: dict[str, str] = {}
    for name, values in choices.items():
        for i, value in enumerate(values):
            at = f"{field}.{name}[{i}]"
            if unfit := text_errors(at, value):
                errors += unfit
            elif not (key := value.strip().lower()):
                errors.append(FieldError(field=at, message="must not be blank"))
            elif owner.setdefault(key, name) != name:
                errors.append(FieldError(field=at, message=f"{value.strip()} is also a value of {owner[key]}"))
    return errors


def _mobile_errors(settings: ImportProfileData) -> list[FieldError]:
    """Local mobile numbers need their country, as an ISO 3166 alpha-2 code."""
    country = settings.mobile_country
    if country is None:
        if settings.mobile_mode == "local":
            message = "local mobile numbers need their country (ISO 3166 alpha-2, e.g. GB)"
            return [FieldError(field="settings.mobile_country", message=message)]
        return []
    if text_errors("settings.mobile_country", country) or not COUNTRY_CODE.fullmatch(country):
        message = "must be an ISO 3166 alpha-2 code: two upper-case letters, e.g. GB"
        return [FieldError(field="settings.mobile_country", message=message)]
    return []
