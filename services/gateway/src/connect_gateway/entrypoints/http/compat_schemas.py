"""Bodies of the Responsys-compatible API, named and cased as the original's (spec §8.2), with its examples.

Times are milliseconds since 1970-01-01 UTC, as the original gives them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connect_gateway.domain.compat import MAX_TRIGGERED

CompatStatusName = Literal["running", "failed", "succeeded", "aborted"]


class CompatBody(BaseModel):
    """Base of this API's bodies: fields the original sends and Connect does not use are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class CompatErrorOut(CompatBody):
    """The original's error envelope; `type` and `errorDetails` are reserved there and always empty."""

    type: str = ""
    title: str
    errorCode: str
    detail: str
    errorDetails: list[str] = Field(default_factory=list)

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "",
                "title": "Connect job not active",
                "errorCode": "CONNECT_JOB_INACTIVE",
                "detail": "Connect Job status is Inactive and can't be run",
                "errorDetails": [],
            }
        }
    )


class AuthTokenOut(CompatBody):
    """A 3-hour token for the `Authorization` header, and where to send the calls that use it."""

    authToken: str
    issuedAt: int = Field(description="When the token was issued, in milliseconds since 1970-01-01 UTC")
    endPoint: str = Field(description="The address to send the calls to: this gateway's")

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "authToken": "cnt_Qm9vayBvZiBDb25uZWN0IGV4YW1wbGUgdG9rZW4gdmFsdWU",
                "issuedAt": 1796112000000,
                "endPoint": "https://connect.example.com",
            }
        }
    )


class ConnectJobOut(CompatBody):
    """One Connect job."""

    jobId: int
    jobName: str
    jobType: str
    nextJobRun: int | None = Field(description="The next scheduled run, in ms since 1970 (null: none)")
    lastJobRun: int | None = Field(description="When the job last ran, in ms since 1970 (null: never)")
    scheduleType: str
    active: bool
    running: bool

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "jobId": 1042,
                "jobName": "Nightly CRM import",
                "jobType": "import_profile_data",
                "nextJobRun": 1801461600000,
                "lastJobRun": 1800867600000,
                "scheduleType": "daily",
                "active": True,
                "running": False,
            }
        }
    )


class TriggerIn(CompatBody):
    """The jobs to trigger, each by its Job ID."""

    jobIds: list[int] = Field(min_length=1, max_length=MAX_TRIGGERED, json_schema_extra={"example": [1, 2, 3]})


class TriggerOut(CompatBody):
    """The run a trigger started (`errorMessage` is empty on success)."""

    jobRunId: int
    errorMessage: str = ""
    success: bool = True

    model_config = ConfigDict(json_schema_extra={"example": {"jobRunId": 7, "errorMessage": "", "success": True}})


class LinkOut(CompatBody):
    """Where to go next."""

    rel: str
    href: str
    method: str


class TriggerResultOut(CompatBody):
    """One job's result in a trigger-many answer: its run, or why it did not start."""

    jobId: int
    success: bool
    jobRunId: int | None
    errorMessage: str
    links: list[LinkOut]

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "jobId": 1042,
                "success": True,
                "jobRunId": 7,
                "errorMessage": "",
                "links": [
                    {"rel": "self", "href": "/rest/api/v1.3/connectJobs/trigger", "method": "PUT"},
                    {
                        "rel": "getConnectJobRunStatus",
                        "href": "/rest/api/v1.3/connectJobs/1042/jobRuns/7/status",
                        "method": "GET",
                    },
                ],
            }
        }
    )


class JobRunStatusValue(CompatBody):
    """A run's status, wrapped as the original's run list wraps it."""

    value: CompatStatusName


class JobRunOut(CompatBody):
    """One run of a job."""

    jobRunId: int
    jobName: str
    jobRunStatus: JobRunStatusValue
    durationInSeconds: int
    jobStartTime: int = Field(description="When the run started (or was requested, if it has not), in ms since 1970")

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "jobRunId": 7,
                "jobName": "Nightly CRM import",
                "jobRunStatus": {"value": "succeeded"},
                "durationInSeconds": 42,
                "jobStartTime": 1800007200000,
            }
        }
    )


class JobRunStatusOut(CompatBody):
    """A run's status and counts; `errrorMessage` is spelled as the original spells it."""

    jobRunStatus: CompatStatusName
    errrorMessage: str
    recordsProcessed: int
    recordsAdded: int
    recordsUpdated: int
    recordsRejected: int
    durationInSeconds: int

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "jobRunStatus": "succeeded",
                "errrorMessage": "",
                "recordsProcessed": 1000,
                "recordsAdded": 990,
                "recordsUpdated": 0,
                "recordsRejected": 10,
                "durationInSeconds": 12,
            }
        }
    )


class JobRunLogOut(CompatBody):
    """One line of a run's execution log."""

    logLevel: str
    logMessage: str
    logTime: int = Field(description="In ms since 1970-01-01 UTC")

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"logLevel": "INFO", "logMessage": "parsed 1000 data rows", "logTime": 1800007201000}
        }
    )


class RateLimitOut(CompatBody):
    """One call's limit: requests a minute per token."""

    limit: int
    api: str
    resource_path: str
    verb: str
    description: str

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "limit": 600,
                "api": "getConnectJobRunStatus",
                "resource_path": "/connectJobs/{jobId}/jobRuns/{jobRunId}/status",
                "verb": "GET",
                "description": "A run's status",
            }
        }
    )
