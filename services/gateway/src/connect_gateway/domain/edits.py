"""Rules for editing a job from what the catalog shows of it."""

from __future__ import annotations

from connect_events import FieldError, FileLocation, HostedLocation, SftpLocation
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.jobs import SourceDraft

CREDENTIAL_AGAIN = "give the credential again when host, port or user changes"
CREDENTIAL_FOR_EXTERNAL = "give private_key or password: the job read its file from the hosted file server until now"
CREDENTIAL_AFTER_API = "give private_key or password: the job pushed its rows to a marketing API until now"


def check_based_on(job_id: int, read_version: int, expected_version: int) -> None:
    """Values kept from the catalog's copy must be those of the version the edit is based on.

    The catalog lags the scheduler: an older copy may hold a credential or host key rotated since, and
    reusing it would silently revert that rotation.
    """
    if read_version < expected_version:
        raise Refusal(
            "conflict",
            f"job {job_id} is still being updated (read model at version {read_version}, "
            f"request based on {expected_version}); retry",
        )
    if read_version > expected_version:
        raise Refusal(
            "conflict",
            f"job {job_id} is at version {read_version}, not {expected_version}; reload it and edit again",
            reason="STALE_VERSION",
        )


def check_same_login(source: SourceDraft, current: SftpLocation) -> None:
    """The stored secret only goes to the server and user it was given for."""
    if not source.same_login(current):
        raise _secret_needed(CREDENTIAL_AGAIN)


def external(current: FileLocation) -> SftpLocation:
    """The external source an edit without a secret keeps the secret of: a job moving from the hosted file server
    to an external one has none to keep, so it needs one like a new job."""
    if isinstance(current, HostedLocation):
        raise _secret_needed(CREDENTIAL_FOR_EXTERNAL)
    return current


def secret_after_api() -> Refusal:
    """An edit turning a marketing-API export into a job with an external server keeps no secret."""
    return _secret_needed(CREDENTIAL_AFTER_API)


def _secret_needed(message: str) -> Refusal:
    errors = [FieldError(field=f"source.{name}", message=message) for name in ("private_key", "password")]
    return Refusal("validation_failed", message, errors)
