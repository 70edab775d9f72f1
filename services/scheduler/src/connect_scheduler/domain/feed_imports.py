"""Rules of an *import analytics feed* job (spec §6): the SFTP folder, the report suite, the mapping of feed
columns onto the custom table, the lookup labels and the limits. All errors at once, each naming its field."""

from __future__ import annotations

import re

from connect_events import FEED_LOOKUPS, RIID, ColumnSpec, ColumnType, FieldError, ImportAnalyticsFeed, TableSpec
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.import_files import folder_source_errors, limits_errors
from connect_scheduler.domain.mappings import Mapped, key_coverage_errors
from connect_scheduler.domain.targets import Profile, Target

# Report suite ids are what the analytics product allows: letters, digits, `.`, `_` and `-`; they begin the
# deliveries' names (`<rsid>_<YYYY-MM-DD>.txt`).
REPORT_SUITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
FEED_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


def feed_errors(settings: ImportAnalyticsFeed, target: Target) -> list[FieldError]:
    """Every problem of the feed job's settings against its target as it is now: its custom table (None: not
    defined), or its PET and the PET's list (`Profile`)."""
    errors = folder_source_errors(settings.source)
    if not REPORT_SUITE.fullmatch(settings.report_suite):
        message = "a report suite id: 1-100 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        errors.append(FieldError(field="settings.report_suite", message=message))
    if settings.pet is not None:
        errors += _pet_errors(settings, settings.pet, target if isinstance(target, Profile) else Profile(None))
        return errors + _source_errors(settings) + _label_errors(settings) + limits_errors(settings.limits)
    table = target if isinstance(target, TableSpec) else None
    if not settings.table.strip():
        errors.append(FieldError(field="settings.table", message="name the custom table or the PET to load"))
    elif unfit := text_errors("settings.table", settings.table):
        errors += unfit
    elif table is None:
        errors.append(FieldError(field="settings.table", message=f"no table named {settings.table}"))
    mapped = Mapped("settings.mapping", "table", table, header=True)
    errors += mapped.errors(settings.mapping)
    errors += _source_errors(settings)
    if table is not None and settings.mapping:
        errors += key_coverage_errors(table, mapped.targets)
    return errors + _label_errors(settings) + limits_errors(settings.limits)


def _source_errors(settings: ImportAnalyticsFeed) -> list[FieldError]:
    """Mapped sources are feed column names."""
    return [
        FieldError(
            field=f"settings.mapping[{i}].source",
            message="a feed column as column_headers.tsv names it, e.g. post_evar12",
        )
        for i, mapping in enumerate(settings.mapping)
        if mapping.source.strip() and not FEED_COLUMN.fullmatch(mapping.source)
    ]


def _pet_errors(settings: ImportAnalyticsFeed, name: str, profile: Profile) -> list[FieldError]:
    """The PET is defined (with its list); one mapping fills the match column a hit finds its profile by, the
    others the PET's own columns (never `RIID_`, which comes from the profile found)."""
    errors = text_errors("settings.pet", name)
    if settings.table:
        errors.append(FieldError(field="settings.table", message="a feed loads a custom table or a PET, not both"))
    pet = profile.pet(name)
    if not errors and (pet is None or profile.list is None):
        errors.append(FieldError(field="settings.pet", message=f"no PET named {name}"))
    matched = [m for m in settings.mapping if m.target.lower() == settings.match_column.lower()]
    if not matched:
        message = f"map a feed column to {settings.match_column} to find each hit's profile"
        errors.append(FieldError(field="settings.match_column", message=message))
    table = None
    if pet is not None:  # the PET's columns and the match column, which is compared, never written
        pet_table = pet.as_table()
        match = ColumnSpec(name=settings.match_column, type=ColumnType.TEXT)
        table = pet_table.model_copy(update={"columns": (*pet_table.columns, match)})
    mapped = Mapped("settings.mapping", "PET", table, header=True)
    return errors + mapped.errors(settings.mapping, _pet_unwritable)


def _pet_unwritable(column: str) -> str | None:
    return f"{RIID} comes from the profile a hit finds" if column == RIID else None


def _label_errors(settings: ImportAnalyticsFeed) -> list[FieldError]:
    """Each labelled column has a lookup, is mapped, and is named once."""
    sources = {m.source for m in settings.mapping}
    errors: list[FieldError] = []
    for i, column in enumerate(settings.labels):
        field = f"settings.labels[{i}]"
        if column not in FEED_LOOKUPS:
            known = ", ".join(sorted(FEED_LOOKUPS))
            errors.append(FieldError(field=field, message=f"no lookup gives this column's names; these do: {known}"))
        elif column not in sources:
            errors.append(FieldError(field=field, message=f"map {column} to load its names"))
        elif column in settings.labels[:i]:
            errors.append(FieldError(field=field, message=f"{column} is listed twice"))
    return errors
