"""Rules of an *import analytics feed* job (spec §6): the SFTP folder, the report suite, the mapping of feed
columns onto the custom table, the lookup labels and the limits. All errors at once, each naming its field."""

from __future__ import annotations

import re

from connect_events import FEED_LOOKUPS, FieldError, ImportAnalyticsFeed, TableSpec
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.import_files import folder_source_errors, limits_errors
from connect_scheduler.domain.mappings import Mapped, key_coverage_errors

# Report suite ids are what the analytics product allows: letters, digits, `.`, `_` and `-`; they begin the
# deliveries' names (`<rsid>_<YYYY-MM-DD>.txt`).
REPORT_SUITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
FEED_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


def feed_errors(settings: ImportAnalyticsFeed, table: TableSpec | None) -> list[FieldError]:
    """Every problem of the feed job's settings against its table as it is now (None: not defined)."""
    errors = folder_source_errors(settings.source)
    if not REPORT_SUITE.fullmatch(settings.report_suite):
        message = "a report suite id: 1-100 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        errors.append(FieldError(field="settings.report_suite", message=message))
    errors += text_errors("settings.table", settings.table)
    if not errors and table is None:
        errors.append(FieldError(field="settings.table", message=f"no table named {settings.table}"))
    mapped = Mapped("settings.mapping", "table", table, header=True)
    errors += mapped.errors(settings.mapping)
    for i, mapping in enumerate(settings.mapping):
        if mapping.source.strip() and not FEED_COLUMN.fullmatch(mapping.source):
            message = "a feed column as column_headers.tsv names it, e.g. post_evar12"
            errors.append(FieldError(field=f"settings.mapping[{i}].source", message=message))
    if table is not None and settings.mapping:
        errors += key_coverage_errors(table, mapped.targets)
    return errors + _label_errors(settings) + limits_errors(settings.limits)


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
