"""Request and response bodies of audiences (spec §1): a saved filter over a list, optionally joined with its PETs,
and the ordered columns an export of it writes.

The gateway checks shapes (names are identifiers, values single lines); whether the names exist, the operators
fit the column types and the values read as them is checked against the definitions (`connect_runtime.audiences`),
by the scheduler on save and here for a preview of an unsaved audience.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from connect_events import Operator
from connect_gateway.domain import limits as lim
from connect_gateway.entrypoints.http.fields import LINE, Identifier
from connect_gateway.entrypoints.http.schemas import RequestBody, ResponseBody, examples
from connect_runtime.audiences import MAX_CONDITIONS, MAX_IN_VALUES

ConditionValue = Annotated[str, StringConstraints(max_length=lim.MAX_MAPPING_NAME), LINE]


class AudienceColumnIn(RequestBody):
    """A column of the audience's list (`pet` left out) or of one of its PETs."""

    column: Identifier
    pet: Identifier | None = None


class ConditionIn(RequestBody):
    """A test of a column's value. Values are text read as the column's type: numbers with `.`, dates
    `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS`, booleans `true`/`false`. `equals`, `not_equals` (also true for
    an empty value), `greater_than`, `less_than`: one value; `in`: one or more; `between`: two, both included;
    `contains`, `starts_with` (text, ignoring case): one; `is_empty` (no value or blank text), `is_not_empty`:
    none; `in_last_days` (dates and timestamps): a number of days, today included."""

    column: Identifier
    pet: Identifier | None = None
    operator: Operator
    values: list[ConditionValue] = Field(default_factory=list, max_length=MAX_IN_VALUES)


class GroupIn(RequestBody):
    """Conditions and groups combined: all must hold (`all`) or any one (`any`)."""

    match: Literal["all", "any"] = "all"
    conditions: list[ConditionIn | GroupIn] = Field(min_length=1, max_length=MAX_CONDITIONS)


GroupIn.model_rebuild()


class AudienceFieldsIn(RequestBody):
    """What an update replaces: the PETs joined, the filter (left out: every row) and the export columns."""

    list_name: Identifier
    pets: list[Identifier] = Field(default_factory=list, max_length=lim.MAX_COLUMNS)
    filter: GroupIn | None = None
    columns: list[AudienceColumnIn] = Field(min_length=1, max_length=lim.MAX_COLUMNS)


class AudienceIn(AudienceFieldsIn):
    """An audience to define."""

    model_config = examples(
        {
            "name": "Gold_Paris",
            "list_name": "Customers",
            "pets": ["Purchases"],
            "filter": {
                "match": "all",
                "conditions": [
                    {"column": "CITY_", "operator": "equals", "values": ["Paris"]},
                    {
                        "match": "any",
                        "conditions": [
                            {"column": "TOTAL", "pet": "Purchases", "operator": "greater_than", "values": ["100"]},
                            {"column": "LAST_ORDER", "pet": "Purchases", "operator": "in_last_days", "values": ["30"]},
                        ],
                    },
                ],
            },
            "columns": [{"column": "EMAIL_ADDRESS_"}, {"column": "TOTAL", "pet": "Purchases"}],
        }
    )

    name: Identifier


class AudienceOut(ResponseBody):
    """An audience as saved (its list and PETs named as they were defined), its version and when it last
    changed."""

    name: str
    list_name: str
    pets: list[str]
    filter: dict[str, Any] | None
    columns: list[dict[str, Any]]
    version: int
    updated_at: datetime
    updated_by: str
    url: str


class AudienceRowsOut(ResponseBody):
    """An audience's first rows by `RIID_`, each an object of its columns in order (a PET column sharing a
    name with an earlier one is named `<PET>.<COLUMN>`), and how many rows it holds in all."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    count: int
