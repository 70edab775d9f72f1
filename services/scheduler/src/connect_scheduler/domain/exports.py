"""Rules of an export job's settings (spec §5.1, §5.2): what it reads, where its file goes and how it is written.

What it reads is checked against the definitions as they are now (`targets.Exported`): the table, list, PET or
audience must be defined, every chosen column must be one of theirs (once), and an audience must still compile
against its list and PETs. The file goes to one file name (no `*`) in an external SFTP folder or the hosted
server's `download/` folder, ending `.gz` or `.zip` when compressed.
"""

from __future__ import annotations

import posixpath

from connect_events import (
    AudienceExport,
    ColumnSpec,
    ExportFile,
    ExportSource,
    FieldError,
    HostedLocation,
    ListExport,
    PetExport,
    TableExport,
)
from connect_runtime.audiences import audience_errors
from connect_runtime.hosted_files import segments
from connect_scheduler.domain.import_files import companion_errors, source_errors
from connect_scheduler.domain.tables import identifier_errors
from connect_scheduler.domain.targets import Exported

HOSTED_EXPORT_FOLDER = "download"
SUFFIXES = {"gzip": ".gz", "zip": ".zip"}


def export_errors(settings: ExportFile, exported: Exported) -> list[FieldError]:
    """Every problem of an export's settings against what it reads (`exported`), naming fields."""
    errors = _source_errors(settings.source, exported)
    destination = source_errors(settings.destination, "settings.destination")
    errors += destination or _destination_errors(settings)
    errors += companion_errors(settings.files.count_file, settings.files.ready_file)
    if settings.file.quote == "always" and not settings.file.qualifier:
        errors.append(FieldError(field="settings.file.quote", message="quoting every value needs a qualifier"))
    if settings.incremental and not isinstance(settings.source, ListExport | AudienceExport):
        message = "only a list or an audience can be exported incrementally (their rows keep MODIFIED_DATE_)"
        errors.append(FieldError(field="settings.incremental", message=message))
    return errors


def _destination_errors(settings: ExportFile) -> list[FieldError]:
    """The file name (one file: no `*`, no leading dot, the compression's suffix) and, on the hosted server, the
    `download/` folder."""
    field = "settings.destination.path"
    location = settings.destination
    name = posixpath.basename(location.path)
    errors: list[FieldError] = []
    if "*" in location.path:
        errors.append(FieldError(field=field, message="an export writes one file: give its name without `*`"))
    if name.startswith("."):
        errors.append(FieldError(field=field, message="the file name must not start with '.'"))
    compression = settings.file.compression
    suffix = SUFFIXES.get(compression)
    if suffix is not None and not name.lower().endswith(suffix):
        errors.append(FieldError(field=field, message=f"a {compression} file's name must end with {suffix}"))
    if suffix is None and name.lower().endswith(tuple(SUFFIXES.values())):
        message = "the name ends like a compressed file's: choose the compression, or another name"
        errors.append(FieldError(field=field, message=message))
    if isinstance(location, HostedLocation):
        parts = segments(location.path)  # the location's own rule let it through
        if len(parts) < 2 or parts[0] != HOSTED_EXPORT_FOLDER:
            message = f"must be a file in the {HOSTED_EXPORT_FOLDER}/ folder of the hosted file server"
            errors.append(FieldError(field=field, message=message))
    return errors


def _source_errors(source: ExportSource, exported: Exported) -> list[FieldError]:
    field = "settings.source"
    match source:
        case TableExport():
            if errors := identifier_errors(f"{field}.table", source.table):
                return errors
            if exported.table is None:
                return [FieldError(field=f"{field}.table", message=f"no table named {source.table}")]
            return _columns_errors(f"{field}.columns", source.columns, exported.table.columns, "the table")
        case ListExport():
            if errors := identifier_errors(f"{field}.list_name", source.list_name):
                return errors
            if exported.list is None:
                return [FieldError(field=f"{field}.list_name", message=f"no list named {source.list_name}")]
            return _columns_errors(f"{field}.columns", source.columns, exported.list.all_columns(), "the list")
        case PetExport():
            return _pet_errors(source, exported)
        case AudienceExport():
            return _audience_errors(source, exported)


def _pet_errors(source: PetExport, exported: Exported) -> list[FieldError]:
    field = "settings.source"
    if errors := identifier_errors(f"{field}.pet", source.pet):
        return errors
    pet = exported.pet(source.pet)
    if pet is None:
        return [FieldError(field=f"{field}.pet", message=f"no PET named {source.pet}")]
    if exported.list is None:
        return [FieldError(field=f"{field}.pet", message=f"the list {pet.list_name} of PET {pet.name} is not defined")]
    errors = _columns_errors(f"{field}.columns", source.columns, pet.columns, "the PET")
    if not source.key_columns:
        errors.append(FieldError(field=f"{field}.key_columns", message="give at least one column of the list"))
    errors += _columns_errors(f"{field}.key_columns", source.key_columns, exported.list.all_columns(), "the list")
    keys = {name.lower() for name in source.key_columns}
    errors += [
        FieldError(field=f"{field}.columns[{i}]", message=f"column {name} is also one of the key columns")
        for i, name in enumerate(source.columns)
        if name.lower() in keys
    ]
    return errors


def _audience_errors(source: AudienceExport, exported: Exported) -> list[FieldError]:
    field = "settings.source.audience"
    if errors := identifier_errors(field, source.audience):
        return errors
    audience = exported.audience
    if audience is None:
        return [FieldError(field=field, message=f"no audience named {source.audience}")]
    if exported.list is None:
        return [
            FieldError(field=field, message=f"the list {audience.list_name} of audience {audience.name} is not defined")
        ]
    problems = audience_errors(audience, exported.list, exported.pets)
    if not problems:
        return []
    first = problems[0]
    message = f"audience {audience.name} no longer fits its list and PETs ({first.field}: {first.message})"
    return [FieldError(field=field, message=message)]


def _columns_errors(
    field: str, chosen: tuple[str, ...], available: tuple[ColumnSpec, ...], owner: str
) -> list[FieldError]:
    """Each chosen column must be one of `available` (any case), once."""
    names = {column.name.lower() for column in available}
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, name in enumerate(chosen):
        at = f"{field}[{i}]"
        if unfit := identifier_errors(at, name):
            errors += unfit
        elif name.lower() not in names:
            errors.append(FieldError(field=at, message=f"{owner} has no column {name}"))
        elif name.lower() in seen:
            errors.append(FieldError(field=at, message=f"column {name} is chosen twice"))
        seen.add(name.lower())
    return errors
