"""Request and response bodies of *import analytics feed* jobs (`type` `import_analytics_feed`, spec §6): a
partner job loading the deliveries a web-analytics product writes to an SFTP folder into a custom table."""

from __future__ import annotations

import builtins
from typing import Annotated, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag

from connect_events import MatchColumn
from connect_gateway.domain import limits as lim
from connect_gateway.entrypoints.http.fields import LINE, Description, Identifier, IsoDateTime, JobName, Version
from connect_gateway.entrypoints.http.schemas import (
    ErrorItem,
    JobSummaryOut,
    LimitsIn,
    LimitsOut,
    MappingIn,
    MappingOut,
    NotificationsIn,
    NotificationsOut,
    OnDemandIn,
    RequestBody,
    ResponseBody,
    RetryIn,
    RetryOut,
    ScheduleIn,
    ScheduleOut,
    SourceFields,
    SourceIn,
    SourceOut,
    SourceUpdateIn,
    TargetIn,
    TargetOut,
)

ReportSuite = Annotated[str, StringConstraints(min_length=1, max_length=100), LINE]
FeedColumn = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_MAPPING_NAME), LINE]


class PetTargetIn(RequestBody):
    """A PET to load: each hit finds its profile in the PET's list by `match_column`, which one mapping fills
    (e.g. `post_evar12` → `CUSTOMER_ID_`); the other mappings fill the PET's columns. A profile's later hit
    replaces its earlier ones; no profile is created."""

    pet: Identifier
    match_column: MatchColumn = "CUSTOMER_ID_"


def _target_kind(value: object) -> str:
    """A target naming a `pet` is a PET; any other one a custom table (whose own rules then speak)."""
    return "pet_target" if isinstance(value, dict) and "pet" in value else "table_target"


FeedTargetIn = Annotated[
    Annotated[TargetIn, Tag("table_target")] | Annotated[PetTargetIn, Tag("pet_target")],
    Discriminator(_target_kind),
]


class PetTargetOut(ResponseBody):
    """The PET loaded and the list column a hit finds its profile by."""

    pet: str
    match_column: str


class FeedJobFields(RequestBody):
    """The fields of an *import analytics feed* job, a partner job: it runs on its schedule only (never run now,
    copied or put in a group). Each run loads the complete deliveries of `report_suite` in the folder
    `source.path` that the job has not loaded yet, oldest first: `<report_suite>_<YYYY-MM-DD>[-HH].txt` (the
    manifest; or a `.fin` marker) says a delivery is complete, and every file's size and MD5 are checked before a
    hit is read. `mapping` names feed columns as `column_headers.tsv` does (`post_evar12`, `visit_num`,
    `date_time`, `post_event_list`); `labels` lists mapped columns to load as their lookup names instead of ids
    (`browser`, `country`, `post_event_list`, …). Hits with `exclude_hit` > 0 never load, nor data-source hits
    with `drop_data_source_hits`. Rows are written into the custom table as an *import custom table* job
    writes them, or into a PET (`target`)."""

    type: Literal["import_analytics_feed"]
    name: JobName
    description: Description = ""
    source: SourceFields
    report_suite: ReportSuite = Field(description="The report suite id deliveries are named after")
    granularity: Literal["daily", "hourly"] = "daily"
    target: FeedTargetIn = Field(description="A custom table (`table`, as for an import) or a PET (`pet`)")
    mapping: builtins.list[MappingIn] = Field(min_length=1, max_length=lim.MAX_MAPPINGS)
    labels: builtins.list[FeedColumn] = Field(default_factory=builtins.list, max_length=lim.MAX_MAPPINGS)
    drop_data_source_hits: bool = False
    truncate_long_text: bool = Field(
        default=False, description="Cut text longer than its column instead of rejecting the hit"
    )
    limits: LimitsIn = Field(default_factory=LimitsIn)
    schedule: ScheduleIn = Field(default_factory=lambda: OnDemandIn(kind="on_demand"))
    expires_at: IsoDateTime | None = Field(default=None, description="When the job is deleted; null: never")
    retry: RetryIn = Field(default_factory=RetryIn)
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)


class FeedJobIn(FeedJobFields):
    """An analytics feed job to create: the SFTP server (`path`: the folder) with exactly one secret."""

    source: SourceIn = Field(description="The SFTP server; `path` is the folder the deliveries arrive in")
    activate: bool = False


class FeedJobUpdateIn(FeedJobFields):
    """An analytics feed job's full replacement, based on `expected_version`; no secret keeps the stored one."""

    source: SourceUpdateIn = Field(description="The SFTP server; `path` is the folder the deliveries arrive in")
    expected_version: Version


class FeedJobOut(JobSummaryOut):
    """An *import analytics feed* job with its settings (never the secret), and its errors."""

    source: SourceOut
    report_suite: str
    granularity: str
    target: TargetOut | PetTargetOut
    mapping: builtins.list[MappingOut]
    labels: builtins.list[str]
    drop_data_source_hits: bool
    truncate_long_text: bool
    limits: LimitsOut
    schedule: ScheduleOut
    retry: RetryOut
    notifications: NotificationsOut
    errors: builtins.list[ErrorItem]
