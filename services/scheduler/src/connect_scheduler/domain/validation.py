"""Rules a job definition must satisfy to be activated (spec §4.2, §7.1): all errors at once.

A definition with errors is still stored, as an inactive draft, unless it cannot be: a name that breaks the
name rule, or a text PostgreSQL cannot hold (`unstorable_errors`).

The gateway checks the same values, but a command may come from any producer of the topic, so every text
is checked here again with the shared rules of `connect_events.values`: no control characters in names,
hosts, users, paths and column names, nothing PostgreSQL cannot store anywhere. A value that breaks one of
these rules gets only that error (the other rules would only repeat it), and no message quotes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from connect_events import (
    Command,
    ExportApi,
    ExportFile,
    FieldError,
    ImportAnalyticsFeed,
    ImportCustomTable,
    JobDefinition,
    JobSettings,
    Notifications,
    RetryPolicy,
    TableSpec,
)
from connect_events.values import MAX_HOST_LENGTH, control_problem, host_problem, job_name_problem, storable_problem
from connect_scheduler.domain.addresses import private_host_problem
from connect_scheduler.domain.exports import api_export_errors, export_errors
from connect_scheduler.domain.feed_imports import feed_errors
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.import_files import file_rules_errors, limits_errors, source_errors
from connect_scheduler.domain.mappings import Mapped, key_coverage_errors
from connect_scheduler.domain.profile_imports import profile_errors
from connect_scheduler.domain.schedules import schedule_errors
from connect_scheduler.domain.targets import Exported, Profile, Target

MAX_DESCRIPTION_LENGTH = 4000


def validate_job(definition: JobDefinition, target: Target) -> list[FieldError]:
    """Every problem of `definition` against its `target` as it is now (`domain/targets.py`), naming fields."""
    errors = name_errors(definition.name) + _description_errors(definition.description)
    return errors + _settings_errors(definition.settings, target)


def job_errors(
    definition: JobDefinition, target: Target, now: datetime, *, allow_private_webhooks: bool = False
) -> list[FieldError]:
    """Every problem of `definition` at `now`: its own rules, its target's, its schedule's, its expiration's, its
    notifications' (`allow_private_webhooks`: the operator lets webhooks reach private addresses)."""
    errors = validate_job(definition, target) + schedule_errors(definition.schedule, now, "schedule")
    errors += expiration_errors(definition.expires_at, now) + retry_errors(definition.retry)
    return errors + notification_errors(definition.notifications, allow_private_webhooks=allow_private_webhooks)


MAX_ATTEMPTS = 10
MAX_BACKOFF_S = 6 * 3600
MAX_MULTIPLIER = 10.0


def retry_errors(policy: RetryPolicy) -> list[FieldError]:
    """The retry policy's bounds: a few attempts, waits from a second to six hours, a growth of at most 10×."""
    errors: list[FieldError] = []
    if not 1 <= policy.attempts <= MAX_ATTEMPTS:
        errors.append(FieldError(field="retry.attempts", message=f"between 1 and {MAX_ATTEMPTS} (the first included)"))
    if not 1 <= policy.initial_backoff_s <= MAX_BACKOFF_S:
        errors.append(FieldError(field="retry.initial_backoff_s", message=f"between 1 and {MAX_BACKOFF_S} seconds"))
    if not 1.0 <= policy.multiplier <= MAX_MULTIPLIER:  # also refuses NaN
        errors.append(FieldError(field="retry.multiplier", message=f"between 1 and {MAX_MULTIPLIER:g}"))
    return errors


MAX_EMAILS = 20
MAX_WEBHOOK_URL_LENGTH = 2000
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less its angle brackets
MAX_LOCAL_PART_LENGTH = 64
# A strict, ASCII-only address: dot-separated atoms of RFC 5322's characters, at a DNS name with a letter TLD.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")


def notification_errors(settings: Notifications, *, allow_private_webhooks: bool = False) -> list[FieldError]:
    """At most 20 valid, distinct addresses, an http(s) webhook URL with a public host (unless the operator
    allows private ones), and a channel for any outcome that asks to be told."""
    errors = _email_errors(settings.emails)
    if (url := settings.webhook_url) is not None:
        problem = webhook_url_problem(url, allow_private=allow_private_webhooks)
        errors += [] if problem is None else [FieldError(field="notifications.webhook_url", message=problem)]
    asked = settings.on_success or settings.on_failure
    if asked and not settings.emails and not settings.webhook_url:
        errors.append(FieldError(field="notifications", message="give email addresses or a webhook URL to notify"))
    return errors


def email_problem(address: str) -> str | None:
    """Why `address` is not a plain email address (`name@example.com`, ASCII only)."""
    local, _, domain = address.rpartition("@")
    if len(address) > MAX_EMAIL_LENGTH or len(local) > MAX_LOCAL_PART_LENGTH:
        return f"must be at most {MAX_EMAIL_LENGTH} characters, {MAX_LOCAL_PART_LENGTH} before the @"
    if not EMAIL_PATTERN.fullmatch(address) or len(domain) > MAX_HOST_LENGTH:
        return "must be an email address such as name@example.com"
    return None


def webhook_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why `url` cannot receive webhooks: only an http or https URL with a host and no credentials, of at most
    2000 characters; the host must be public unless `allow_private` (`domain.addresses`)."""
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        return f"must be at most {MAX_WEBHOOK_URL_LENGTH} characters"
    if problem := control_problem(url):
        return problem
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # the port is parsed on access: a bad one raises here
    except ValueError:
        return "must be an http or https URL"
    if parts.scheme not in {"http", "https"} or not host or any(c.isspace() for c in url):
        return "must be an http or https URL with a host"
    if host_problem(host):
        return "must be an http or https URL with a valid host"
    if "@" in parts.netloc:  # credentials in a URL end up in logs and proxies; a token belongs in its path
        return "must not hold a user name or password (user:password@)"
    return None if allow_private else private_host_problem(host)


def _email_errors(emails: tuple[str, ...]) -> list[FieldError]:
    if len(emails) > MAX_EMAILS:
        return [FieldError(field="notifications.emails", message=f"at most {MAX_EMAILS} addresses")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, address in enumerate(emails):
        field = f"notifications.emails[{i}]"
        if problem := email_problem(address):
            errors.append(FieldError(field=field, message=problem))
        elif address.lower() in seen:
            errors.append(FieldError(field=field, message="this address is listed twice"))
        seen.add(address.lower())
    return errors


def expiration_errors(expires_at: datetime | None, now: datetime) -> list[FieldError]:
    """An expiration is an instant (with its offset) that is still ahead; None means never."""
    if expires_at is None:
        return []
    if expires_at.tzinfo is None:
        return [FieldError(field="expires_at", message="give the expiration with its UTC offset")]
    try:
        passed = expires_at.astimezone(UTC) <= now
    except OverflowError:  # an offset that pushes year 1 or 9999 out of range
        return [FieldError(field="expires_at", message="is out of range")]
    return [FieldError(field="expires_at", message="is in the past")] if passed else []


def unstorable_errors(definition: JobDefinition) -> list[FieldError]:
    """Every text of `definition` PostgreSQL cannot hold (a NUL, an unpaired surrogate), at any depth."""
    return [
        FieldError(field=field, message=problem)
        for field, text in _texts(definition.model_dump(), "")
        if (problem := storable_problem(text)) is not None
    ]


def _texts(value: object, field: str) -> Iterator[tuple[str, str]]:
    """(dotted field, text) of every text inside a dumped model."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _texts(item, f"{field}[{i}]")


def envelope_errors(command: Command) -> list[FieldError]:
    """Problems of the envelope texts that every event a command causes copies (its actor)."""
    return text_errors("actor", command.actor, storable_problem)


def name_errors(name: str) -> list[FieldError]:
    """The job-name rule; uniqueness needs the other jobs and is checked by the caller."""
    return text_errors("name", name, job_name_problem)


def _description_errors(description: str) -> list[FieldError]:
    if unfit := text_errors("description", description, storable_problem):
        return unfit
    if len(description) > MAX_DESCRIPTION_LENGTH:
        return [FieldError(field="description", message=f"at most {MAX_DESCRIPTION_LENGTH} characters")]
    return []


def _settings_errors(settings: JobSettings, target: Target) -> list[FieldError]:
    """The rules every import shares (source, file, file rules, limits) around those of its target; an export's."""
    if isinstance(settings, ExportFile):
        return export_errors(settings, target if isinstance(target, Exported) else Exported())
    if isinstance(settings, ExportApi):
        return api_export_errors(settings, target if isinstance(target, Exported) else Exported())
    if isinstance(settings, ImportAnalyticsFeed):
        return feed_errors(settings, target)
    errors = source_errors(settings.source)
    if settings.file.decimal_separator == settings.file.delimiter:
        message = "must differ from the delimiter"
        errors.append(FieldError(field="settings.file.decimal_separator", message=message))
    if isinstance(settings, ImportCustomTable):
        errors += _table_errors(settings, target if isinstance(target, TableSpec) else None)
    else:
        errors += profile_errors(settings, target if isinstance(target, Profile) else Profile(None))
    return errors + file_rules_errors(settings.files, settings.source) + limits_errors(settings.limits)


def _table_errors(settings: ImportCustomTable, table: TableSpec | None) -> list[FieldError]:
    errors = text_errors("settings.table", settings.table)
    if not errors and table is None:
        errors.append(FieldError(field="settings.table", message=f"no table named {settings.table}"))
    mapped = Mapped("settings.mapping", "table", table, header=settings.file.header)
    errors += mapped.errors(settings.mapping)
    if table is not None and settings.mapping:
        errors += key_coverage_errors(table, mapped.targets)
    return errors
