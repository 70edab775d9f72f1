"""Rules of an export job's settings (spec §5.1, §5.2): what it reads, where its file goes and how it is written.

What it reads is checked against the definitions as they are now (`targets.Exported`): the table, list, PET or
audience must be defined, every chosen column must be one of theirs (once), and an audience must still compile
against its list and PETs. The file goes to one file name (no `*`) in an external SFTP folder or the hosted
server's `download/` folder, ending `.gz` or `.zip` when compressed.

An export to a marketing API (spec §5.3) pushes a list or an audience to an `https` server (plain `http` only to
the runner's own machine), under a merge rule the API accepts, with the match columns among those pushed.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

from connect_events import (
    HASH_COLUMNS,
    ApiEndpoint,
    AudienceExport,
    ColumnSpec,
    ExportApi,
    ExportFile,
    ExportSource,
    FieldError,
    HostedLocation,
    ListExport,
    MergeRule,
    PetExport,
    TableExport,
)
from connect_events.values import control_problem, host_problem
from connect_runtime.audiences import audience_errors
from connect_runtime.hosted_files import segments
from connect_scheduler.domain.import_files import companion_errors, source_errors
from connect_scheduler.domain.tables import identifier_errors
from connect_scheduler.domain.targets import Exported

HOSTED_EXPORT_FOLDER = "download"
MAX_CALLS_PER_MINUTE = 100_000
MAX_REMOTE_NAME = 255
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
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


def api_export_errors(settings: ExportApi, exported: Exported) -> list[FieldError]:
    """Every problem of an export to a marketing API (spec §5.3) against what it reads, naming fields: the
    source, the endpoint, the remote list, the merge rule, and that the columns pushed hold the match columns."""
    errors = _source_errors(settings.source, exported)
    errors += _endpoint_errors(settings.endpoint)
    if problem := control_problem(settings.remote_list) or _required(settings.remote_list, MAX_REMOTE_NAME):
        errors.append(FieldError(field="settings.remote_list", message=problem))
    errors += _merge_errors(settings.merge)
    if settings.incremental and not isinstance(settings.source, ListExport | AudienceExport):
        errors.append(FieldError(field="settings.incremental", message="only a list or an audience"))
    pushed = _pushed(settings, exported)
    for field, column in (
        ("match_column_1", settings.merge.match_column_1),
        ("match_column_2", settings.merge.match_column_2),
    ):
        if column is not None and pushed is not None and column.lower() not in pushed:
            message = f"the columns pushed must include {column}, which the remote list matches on"
            errors.append(FieldError(field=f"settings.merge.{field}", message=message))
    return errors


def _endpoint_errors(endpoint: ApiEndpoint) -> list[FieldError]:
    """An `https` URL of a host (`http` only on the runner's own machine), without a path, query or credentials;
    a user; a pace of 1 to 100,000 calls a minute."""
    errors: list[FieldError] = []
    if problem := _url_problem(endpoint.url):
        errors.append(FieldError(field="settings.endpoint.url", message=problem))
    if problem := control_problem(endpoint.user) or _required(endpoint.user, MAX_REMOTE_NAME):
        errors.append(FieldError(field="settings.endpoint.user", message=problem))
    if not 1 <= endpoint.calls_per_minute <= MAX_CALLS_PER_MINUTE:
        message = f"between 1 and {MAX_CALLS_PER_MINUTE:,}"
        errors.append(FieldError(field="settings.endpoint.calls_per_minute", message=message))
    return errors


def _url_problem(url: str) -> str | None:
    if problem := control_problem(url):
        return problem
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # a bad port raises here
    except ValueError:
        return "must be an https URL such as https://login.example.com"
    if not host or host_problem(host) or parts.scheme not in ("https", "http") or any(c.isspace() for c in url):
        return "must be an https URL such as https://login.example.com"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "must use https (plain http only to the runner's own machine)"
    if "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        return "give the server only (scheme and host, and a port if needed), without a path or credentials"
    return None


def _required(value: str, longest: int) -> str | None:
    if not value.strip():
        return "is required"
    return None if len(value) <= longest else f"at most {longest} characters"


def _merge_errors(rule: MergeRule) -> list[FieldError]:
    """Spec §5.3: two different match columns; no insert when matching on a hash; values to send."""
    errors: list[FieldError] = []
    if rule.match_column_2 is not None and rule.match_column_2 == rule.match_column_1:
        errors.append(FieldError(field="settings.merge.match_column_2", message="must differ from match_column_1"))
    hashed = {rule.match_column_1, rule.match_column_2} & HASH_COLUMNS
    if hashed and rule.insert_on_no_match:
        message = "must be false when matching on a hash column (a record cannot be made from a hash)"
        errors.append(FieldError(field="settings.merge.insert_on_no_match", message=message))
    for field in ("opt_in_value", "opt_out_value", "html_value", "text_value"):
        value: str = getattr(rule, field)
        if problem := control_problem(value) or _required(value, 64):
            errors.append(FieldError(field=f"settings.merge.{field}", message=problem))
    return errors


def _pushed(settings: ExportApi, exported: Exported) -> set[str] | None:
    """The lower-cased names of the columns pushed; None when what is read is not defined (reported apart)."""
    source = settings.source
    if isinstance(source, AudienceExport):
        audience = exported.audience
        return None if audience is None else {ref.column.lower() for ref in audience.columns if ref.pet is None}
    if exported.list is None:
        return None
    if not source.columns:
        return {column.name.lower() for column in exported.list.all_columns()}
    return {name.lower() for name in source.columns}
