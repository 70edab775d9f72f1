"""Field paths: the scheduler names fields of the job definition, the API names fields of the request.

The HTTP body is not the event contract (it has `target.table` where the definition has `settings.table`),
so a rejection's field errors are translated back to what the client sent; unknown paths pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from connect_events import FieldError

# Envelope prefixes a scheduler may or may not put in front of a definition path.
_WRAPPERS = ("payload.", "definition.", "table.")

# Definition path prefix -> request body prefix, most specific first.
JOB_PATHS: tuple[tuple[str, str], ...] = (
    ("settings.source.credential_ref", "source.private_key"),
    ("settings.destination.credential_ref", "destination.private_key"),
    ("settings.destination.host_key_fingerprint", "destination.host_key"),
    ("settings.destination", "destination"),
    ("settings.incremental", "incremental"),
    # Exports to a marketing API (`export_api`).
    ("settings.endpoint.credential_ref", "endpoint.password"),
    ("settings.endpoint", "endpoint"),
    ("settings.remote_list", "remote_list"),
    ("settings.merge", "merge"),
    ("settings.source.host_key_fingerprint", "source.host_key"),
    ("settings.source", "source"),
    ("settings.files", "files"),
    ("settings.file", "file"),
    ("settings.limits", "limits"),
    ("settings.truncate_long_text", "truncate_long_text"),
    ("settings.table", "target.table"),
    ("settings.write_mode", "target.write_mode"),
    ("settings.insert_on_no_match", "target.insert_on_no_match"),
    ("settings.update_on_match", "target.update_on_match"),
    ("settings.mapping", "mapping"),
    ("settings.kind", "type"),
    # Profile imports (`import_profile_data`).
    ("settings.list_name", "target.list"),
    ("settings.match_column_1", "target.match_column_1"),
    ("settings.match_column_2", "target.match_column_2"),
    ("settings.pets", "pets"),
    ("settings.email_permission", "email_permission"),
    ("settings.mobile_permission", "mobile_permission"),
    ("settings.email_format", "email_format"),
    ("settings.reject_if_channel_empty", "reject_if_channel_empty"),
    ("settings.email_check", "email_check"),
    ("settings.mobile_mode", "mobile_mode"),
    ("settings.mobile_country", "mobile_country"),
    # Analytics feed imports (`import_analytics_feed`).
    ("settings.report_suite", "report_suite"),
    ("settings.granularity", "granularity"),
    ("settings.labels", "labels"),
    ("settings.drop_data_source_hits", "drop_data_source_hits"),
    ("settings.pet", "target.pet"),
    ("settings.match_column", "target.match_column"),
)
TABLE_PATHS: tuple[tuple[str, str], ...] = ()
# The list, PET or column is the request body itself (an empty new prefix: `list.columns[0]` -> `columns[0]`).
LIST_PATHS: tuple[tuple[str, str], ...] = (("list", ""),)
PET_PATHS: tuple[tuple[str, str], ...] = (("pet", ""),)
COLUMN_PATHS: tuple[tuple[str, str], ...] = (("column", ""),)
AUDIENCE_PATHS: tuple[tuple[str, str], ...] = (("audience", ""),)
# The renames of each command's field errors that are not a job's (`JOB_PATHS`).
COMMAND_PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "table.define": TABLE_PATHS,
    "list.define": LIST_PATHS,
    "pet.define": PET_PATHS,
    "list.add_column": COLUMN_PATHS,
    "pet.add_column": COLUMN_PATHS,
    "audience.define": AUDIENCE_PATHS,
    "audience.update": AUDIENCE_PATHS,
    "audience.delete": AUDIENCE_PATHS,
}


def to_request_path(path: str, renames: Iterable[tuple[str, str]]) -> str:
    """`path` in the request's vocabulary."""
    for wrapper in _WRAPPERS:
        if path.startswith(wrapper):
            path = path[len(wrapper) :]
    for old, new in renames:
        if path == old or path.startswith((f"{old}.", f"{old}[")):
            return (new + path[len(old) :]).removeprefix(".") or "body"
    return path


def to_request_errors(errors: Iterable[FieldError], renames: Iterable[tuple[str, str]]) -> list[FieldError]:
    """Each error with its field renamed to the request's vocabulary."""
    pairs = tuple(renames)
    return [FieldError(field=to_request_path(e.field, pairs), message=e.message) for e in errors]
