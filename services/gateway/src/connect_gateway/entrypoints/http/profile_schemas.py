"""Request and response bodies of profile lists, PETs and *import profile data* jobs (spec §1, §4.3, ADR 0011).

The gateway checks shapes; the scheduler checks the rules (match combinations, mapped match columns, the PETs of
the list, value mappings, the mobile country) and saves a job that breaks one as an inactive draft.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from connect_events import MatchColumn
from connect_gateway.domain import limits as lim
from connect_gateway.domain.profiles import ColumnKind
from connect_gateway.entrypoints.http.fields import LINE, Identifier, Version
from connect_gateway.entrypoints.http.schemas import (
    ColumnIn,
    ColumnTypeName,
    EditedSourceIn,
    ImportFields,
    ImportJobOut,
    MappingIn,
    MappingOut,
    NewSourceIn,
    RequestBody,
    ResponseBody,
    examples,
)

ChannelName = Literal["E", "M", "P"]
# A source value of a permission or e-mail format mapping (compared trimmed and case-insensitively).
SourceValue = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_MAPPING_NAME), LINE]
SourceValues = Annotated[list[SourceValue], Field(max_length=lim.MAX_VALUE_CHOICES)]
COUNTRY_PATTERN = r"^[A-Z]{2}$"


class ListIn(RequestBody):
    """A profile list to define: its name and custom columns (the system columns every list has)."""

    model_config = examples(
        {"name": "Customers", "columns": [{"name": "LOYALTY_TIER", "type": "text", "max_length": 20}]}
    )

    name: Identifier
    columns: list[ColumnIn] = Field(
        default_factory=list,
        max_length=lim.MAX_COLUMNS,
        description="Custom columns; their names may not end with `_` (system column names do)",
    )


class PetIn(RequestBody):
    """A profile extension table to define: one row per `RIID_` of the list `list_name`, with its own columns."""

    model_config = examples(
        {"name": "Purchases", "list_name": "Customers", "columns": [{"name": "LAST_ORDER", "type": "date"}]}
    )

    name: Identifier
    list_name: Identifier
    columns: list[ColumnIn] = Field(min_length=1, max_length=lim.MAX_COLUMNS)


class DefinedOut(ResponseBody):
    """A list or PET was defined or got a column: its name as defined, its `version` and where it is read."""

    name: str
    version: int
    url: str


class ListColumnOut(ResponseBody):
    """A column of a list or PET; `kind` says who writes it: `assigned` (the store: `RIID_` and the dates),
    `derived` (computed from `EMAIL_ADDRESS_`), `system` (a system column a file fills) or `custom`."""

    name: str
    type: ColumnTypeName
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    kind: ColumnKind
    match_column: bool = Field(description="An import may match rows on it")


class PetRefOut(ResponseBody):
    """A PET of a list."""

    name: str
    url: str


class ListOut(ResponseBody):
    """A profile list: system columns first, then the custom ones, and its PETs by name."""

    name: str
    columns: list[ListColumnOut]
    pets: list[PetRefOut]
    version: int = Field(description="1, plus one per column added")
    defined_at: datetime
    defined_by: str
    updated_at: datetime
    url: str


class PetOut(ResponseBody):
    """A PET: `RIID_` (the list row it extends), then its own columns."""

    name: str
    list_name: str
    list_url: str
    columns: list[ListColumnOut]
    version: int = Field(description="1, plus one per column added")
    defined_at: datetime
    defined_by: str
    updated_at: datetime
    url: str


class RowsOut(ResponseBody):
    """The first rows of a list or PET by `RIID_`, each an object of every column (dates and timestamps in ISO
    8601, numbers of number columns as text so that no digit is lost); none while the runner has not created the
    table yet."""

    name: str
    rows: list[dict[str, Any]]


class CountOut(ResponseBody):
    """How many rows a list or PET holds (0 while the runner has not created its table yet)."""

    name: str
    count: int


class ProfileTargetIn(RequestBody):
    """The list to merge into: rows match on `match_column_1` and, when given, also `match_column_2`; without a
    match a row is inserted (`insert_on_no_match`) or skipped, with one its mapped columns are replaced
    (`update_on_match`) or it is left as it is."""

    model_config = examples({"list": "Customers", "match_column_1": "EMAIL_ADDRESS_"})

    list: Identifier
    match_column_1: MatchColumn = "EMAIL_ADDRESS_"
    match_column_2: MatchColumn | None = None
    insert_on_no_match: bool = True
    update_on_match: bool = True


class PetMappingIn(RequestBody):
    """A PET of the list filled from the same file: its columns' mapping (`RIID_` comes from the list row the
    file row matched)."""

    pet: Identifier
    mapping: list[MappingIn] = Field(min_length=1, max_length=lim.MAX_MAPPINGS)


class PermissionIn(RequestBody):
    """Source values meaning opt-in (`I`) and opt-out (`O`), compared trimmed and case-insensitively; a row whose
    value is empty or neither gets `default`."""

    model_config = examples({"opt_in": ["1", "yes"], "opt_out": ["0", "no"], "default": "O"})

    opt_in: SourceValues = Field(default_factory=lambda: ["I"])
    opt_out: SourceValues = Field(default_factory=lambda: ["O"])
    default: Literal["I", "O"] = "O"


class EmailFormatIn(RequestBody):
    """Source values meaning HTML (`H`) and text (`T`) mail, as for permissions; otherwise `default`."""

    html: SourceValues = Field(default_factory=lambda: ["H"])
    text: SourceValues = Field(default_factory=lambda: ["T"])
    default: Literal["H", "T"] = "H"


class ProfileJobFields(ImportFields):
    """The fields of an *import profile data* job: one file into a list and, in the same run, its PETs."""

    type: Literal["import_profile_data"]
    target: ProfileTargetIn
    pets: list[PetMappingIn] = Field(default_factory=list, max_length=lim.MAX_PETS)
    email_permission: PermissionIn = Field(default_factory=PermissionIn)
    mobile_permission: PermissionIn = Field(default_factory=PermissionIn)
    email_format: EmailFormatIn = Field(default_factory=EmailFormatIn)
    reject_if_channel_empty: list[ChannelName] = Field(
        default_factory=list,
        max_length=3,
        description="Reject a row whose e-mail address (E), mobile number (M) or postal street (P) is empty",
    )
    email_check: Literal["strict", "basic"] = Field(
        default="strict",
        description="strict: an RFC 5322 dot-atom local part and a domain of DNS labels; basic: one `@` with text "
        "on both sides and a dot in the domain",
    )
    mobile_mode: Literal["e164", "local"] = Field(
        default="e164", description="e164: `+` and the country code; local: numbers of `mobile_country`"
    )
    mobile_country: Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN)] | None = Field(
        default=None, description="ISO 3166 alpha-2 country of local mobile numbers, e.g. GB"
    )


class ProfileJobIn(ProfileJobFields):
    """An *import profile data* job to create; `activate` also activates it when it has no errors."""

    model_config = examples(
        {
            "name": "Import customers",
            "type": "import_profile_data",
            "source": {"kind": "hosted", "path": "upload/customers_%YYYY%%MM%%DD%.csv"},
            "target": {"list": "Customers", "match_column_1": "EMAIL_ADDRESS_"},
            "mapping": [{"source": "email", "target": "EMAIL_ADDRESS_"}, {"source": "tier", "target": "LOYALTY_TIER"}],
            "pets": [{"pet": "Purchases", "mapping": [{"source": "last_order", "target": "LAST_ORDER"}]}],
            "email_permission": {"opt_in": ["1"], "opt_out": ["0"]},
        }
    )

    source: NewSourceIn = Field(description="An external SFTP server (`kind` sftp, the default) or the hosted one")
    activate: bool = False


class ProfileJobUpdateIn(ProfileJobFields):
    """An *import profile data* job's full replacement, based on `expected_version`."""

    source: EditedSourceIn = Field(
        description="An external SFTP server (`kind` sftp, the default) or the hosted one; moving a job to an "
        "external server needs its secret, moving it to the hosted one forgets it"
    )
    expected_version: Version


class ProfileTargetOut(ResponseBody):
    """The list merged into, its match columns and switches."""

    list: str
    match_column_1: str
    match_column_2: str | None
    insert_on_no_match: bool
    update_on_match: bool


class PetMappingOut(ResponseBody):
    """A PET filled from the same file, and its mapping."""

    pet: str
    mapping: list[MappingOut]


class PermissionOut(ResponseBody):
    """Source values meaning opt-in and opt-out, and the default."""

    opt_in: list[str]
    opt_out: list[str]
    default: str


class EmailFormatOut(ResponseBody):
    """Source values meaning HTML and text mail, and the default."""

    html: list[str]
    text: list[str]
    default: str


class ProfileJobOut(ImportJobOut):
    """An *import profile data* job with its settings."""

    target: ProfileTargetOut
    pets: list[PetMappingOut]
    email_permission: PermissionOut
    mobile_permission: PermissionOut
    email_format: EmailFormatOut
    reject_if_channel_empty: list[str]
    email_check: str
    mobile_mode: str
    mobile_country: str | None
