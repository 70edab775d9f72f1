"""A job as the client sent it, before the gateway pins the host key and vaults the secret (an external SFTP
location: an import's source, an export's destination); a hosted location needs neither."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from connect_events import (
    ApiEndpoint,
    ExportSettings,
    FileLocation,
    HostedLocation,
    ImportAnalyticsFeed,
    ImportSettings,
    JobDefinition,
    Notifications,
    OnDemand,
    RetryPolicy,
    Schedule,
    SftpLocation,
)
from connect_gateway.domain.host_keys import PinnedKey


@dataclass(frozen=True)
class SourceDraft:
    """The external SFTP location; the secrets are optional here and checked by `choose_secret`."""

    host: str
    port: int
    user: str
    path: str
    private_key: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    host_key: str | None = None

    def same_server(self, location: SftpLocation) -> bool:
        """Whether this points at the server `location` was pinned for (so its pinned key still holds)."""
        return (self.host.lower(), self.port) == (location.host.lower(), location.port)

    def same_login(self, location: SftpLocation) -> bool:
        """Whether this logs in where `location` does, as the same user (so its stored secret may go there)."""
        return self.same_server(location) and self.user == location.user

    def location(self, pinned: PinnedKey, credential_ref: UUID) -> SftpLocation:
        """The location to send, with the pinned host key and the vault reference in place of the secret."""
        return SftpLocation(
            host=self.host,
            port=self.port,
            user=self.user,
            path=self.path,
            credential_ref=credential_ref,
            host_key=pinned.public_key,
            host_key_fingerprint=pinned.fingerprint,
        )


# Where a hosted source's file goes after the run when the request does not say (spec §4.1: to `archive/`).
HOSTED_ARCHIVE_FOLDER = "archive"


@dataclass(frozen=True)
class HostedSourceDraft:
    """A file on the hosted file server, by its path under the account's root: nothing to pin or vault."""

    path: str

    def location(self) -> HostedLocation:
        """The location to send."""
        return HostedLocation(path=self.path)


@dataclass(frozen=True)
class ApiDraft:
    """A marketing API's endpoint as sent: the password is optional here (an edit may keep the stored one)."""

    url: str
    user: str
    calls_per_minute: int
    password: str | None = field(default=None, repr=False)

    def same_login(self, endpoint: ApiEndpoint) -> bool:
        """Whether this logs in where `endpoint` does, as the same user (so its stored password may go there)."""
        return (self.url.rstrip("/").lower(), self.user) == (endpoint.url.rstrip("/").lower(), endpoint.user)

    def location(self, credential_ref: UUID) -> ApiEndpoint:
        """The endpoint to send, with the vault reference in place of the password."""
        return ApiEndpoint(
            url=self.url, user=self.user, credential_ref=credential_ref, calls_per_minute=self.calls_per_minute
        )


class SettingsDraft(Protocol):
    """A job's settings as sent, made whole by where its data goes or comes from (`JobDraft.definition`): the
    location an import reads its file from or an export writes it to, or a marketing API's endpoint."""

    def __call__(self, *, source: FileLocation | ApiEndpoint) -> ImportSettings | ExportSettings | ImportAnalyticsFeed:
        """The settings whose file or endpoint is `source`."""
        ...


@dataclass(frozen=True)
class JobDraft:
    """Everything about a job except what the gateway adds (key pin, secret ref); `source` is the location of its
    file (an import's source, an export's destination). The scheduler judges
    the settings, the schedule and the expiration (a definition with errors is saved as an inactive draft)."""

    name: str
    description: str
    source: SourceDraft | HostedSourceDraft | ApiDraft
    settings: SettingsDraft
    schedule: Schedule = field(default_factory=OnDemand)
    expires_at: datetime | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    notifications: Notifications = field(default_factory=Notifications)

    def definition(self, source: FileLocation | ApiEndpoint) -> JobDefinition:
        """The definition to send, its file at `source` (see `SourceDraft.location`) or its endpoint."""
        return JobDefinition(
            name=self.name,
            description=self.description,
            settings=self.settings(source=source),
            schedule=self.schedule,
            expires_at=self.expires_at,
            retry=self.retry,
            notifications=self.notifications,
        )
