"""Rules a job definition must satisfy before it is stored (spec §4.2, §7.1): all errors at once.

The gateway checks the same values, but a command may come from any producer of the topic, so every text
is checked here again with the shared rules of `connect_events.values`: no control characters in names,
hosts, users, paths and column names, nothing PostgreSQL cannot store anywhere. A value that breaks one of
these rules gets only that error (the other rules would only repeat it), and no message quotes it.
"""

from __future__ import annotations

from collections.abc import Callable

from connect_events import (
    ColumnMapping,
    Command,
    FieldError,
    ImportCustomTable,
    JobDefinition,
    SftpLocation,
    TableSpec,
)
from connect_events.values import control_problem, host_problem, job_name_problem, storable_problem

MAX_DESCRIPTION_LENGTH = 4000
MAX_PORT = 65535


def validate_job(definition: JobDefinition, table: TableSpec | None) -> list[FieldError]:
    """Every problem of `definition` against its target `table` (None: no such table), naming fields."""
    errors = name_errors(definition.name) + _description_errors(definition.description)
    return errors + _settings_errors(definition.settings, table)


def envelope_errors(command: Command) -> list[FieldError]:
    """Problems of the envelope texts that every event a command causes copies (its actor)."""
    return text_errors("actor", command.actor, storable_problem)


def text_errors(field: str, value: str, problem: Callable[[str], str | None] = control_problem) -> list[FieldError]:
    """The error of a text that breaks `problem`'s rule (by default: a single-line value), naming `field`."""
    message = problem(value)
    return [] if message is None else [FieldError(field=field, message=message)]


def name_errors(name: str) -> list[FieldError]:
    """The job-name rule; uniqueness needs the other jobs and is checked by the caller."""
    return text_errors("name", name, job_name_problem)


def _description_errors(description: str) -> list[FieldError]:
    if unfit := text_errors("description", description, storable_problem):
        return unfit
    if len(description) > MAX_DESCRIPTION_LENGTH:
        return [FieldError(field="description", message=f"at most {MAX_DESCRIPTION_LENGTH} characters")]
    return []


def _settings_errors(settings: ImportCustomTable, table: TableSpec | None) -> list[FieldError]:
    errors = _source_errors(settings.source)
    if unfit := text_errors("settings.table", settings.table):
        errors += unfit
    elif table is None:
        errors.append(FieldError(field="settings.table", message=f"no table named {settings.table}"))
    errors += _mapping_errors(settings, table)
    return errors


def _source_errors(source: SftpLocation) -> list[FieldError]:
    errors: list[FieldError] = []
    for field, value in (("host", source.host), ("user", source.user), ("path", source.path)):
        if unfit := text_errors(f"settings.source.{field}", value):
            errors += unfit
        elif not value.strip():
            errors.append(FieldError(field=f"settings.source.{field}", message=f"{field} is required"))
        elif field == "host":
            errors += text_errors("settings.source.host", value, host_problem)
    if not 1 <= source.port <= MAX_PORT:
        errors.append(FieldError(field="settings.source.port", message=f"must be 1 to {MAX_PORT}"))
    # The pinned key is data, not a single-line name: it only has to be storable.
    for field, value in (("host_key", source.host_key), ("host_key_fingerprint", source.host_key_fingerprint)):
        errors += text_errors(f"settings.source.{field}", value, storable_problem)
    return errors


def _mapping_errors(settings: ImportCustomTable, table: TableSpec | None) -> list[FieldError]:
    if not settings.mapping:
        return [FieldError(field="settings.mapping", message="map at least one source column")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, mapping in enumerate(settings.mapping):
        field = f"settings.mapping[{i}]"
        errors += text_errors(f"{field}.source", mapping.source) or _source_column_errors(
            f"{field}.source", mapping, header=settings.file.header
        )
        if unfit := text_errors(f"{field}.target", mapping.target):
            errors += unfit
            continue
        errors += _target_errors(f"{field}.target", mapping, table, seen)
        seen.add(mapping.target.lower())
    if table is not None:
        errors += _key_coverage_errors(table, seen)
    return errors


def _source_column_errors(field: str, mapping: ColumnMapping, *, header: bool) -> list[FieldError]:
    """With a header, sources are column names; without one, 1-based positions (spec §4.1)."""
    if header:
        if mapping.source.strip():
            return []
        return [FieldError(field=field, message="name the source column")]
    if mapping.source.isascii() and mapping.source.isdigit() and int(mapping.source) >= 1:
        return []
    return [FieldError(field=field, message="without a header row, the source is a column position (1, 2, ...)")]


def _target_errors(field: str, mapping: ColumnMapping, table: TableSpec | None, seen: set[str]) -> list[FieldError]:
    if mapping.target.lower() in seen:
        return [FieldError(field=field, message=f"column {mapping.target} is mapped twice")]
    if table is not None and table.column(mapping.target) is None:
        return [FieldError(field=field, message=f"table {table.name} has no column {mapping.target}")]
    return []


def _key_coverage_errors(table: TableSpec, mapped: set[str]) -> list[FieldError]:
    """Key columns are NOT NULL: an unmapped one would reject every row, whatever the write mode."""
    return [
        FieldError(field="settings.mapping", message=f"primary-key column {key} of table {table.name} is not mapped")
        for key in table.primary_key
        if key.lower() not in mapped
    ]
