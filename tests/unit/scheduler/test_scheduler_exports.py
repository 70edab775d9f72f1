"""Export jobs (spec §5.1-5.2) in the scheduler: their settings are checked against what they read as defined now
(every error at once, naming its field), and a run request freezes the table, list, PET or audience it reads."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from connect_events import (
    ApiEndpoint,
    AudienceExport,
    AudienceSpec,
    ColumnRef,
    Condition,
    ConditionGroup,
    CsvOutput,
    ExportApi,
    ExportFile,
    ExportFileRules,
    HostedLocation,
    JobDefinition,
    ListExport,
    MergeRule,
    PetExport,
    TableExport,
)
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.targets import Exported, freeze
from connect_scheduler.domain.validation import validate_job
from tests.unit.scheduler.scheduler_builders import customers, members, orders_pet, source

AUDIENCE = AudienceSpec(
    name="Buyers",
    list_name="Members",
    pets=("Orders",),
    filter=ConditionGroup(
        conditions=(Condition(column=ColumnRef(column="TOTAL", pet="Orders"), operator="greater_than", values=("10",)),)
    ),
    columns=(ColumnRef(column="EMAIL_ADDRESS_"), ColumnRef(column="TOTAL", pet="Orders")),
)
DEFINED = Exported(table=customers(), list=members(), pets={"orders": orders_pet()}, audience=AUDIENCE)


def export(what: Any = None, path: str = "out/customers.csv", **fields: Any) -> JobDefinition:
    settings = ExportFile(source=what or TableExport(table="Customers"), destination=source(path=path), **fields)
    return JobDefinition(name="Export", settings=settings)


def errors(definition: JobDefinition, target: Exported = DEFINED) -> dict[str, str]:
    return {e.field: e.message for e in validate_job(definition, target)}


@pytest.mark.parametrize(
    "what",
    [
        TableExport(table="customers", columns=("ID", "Email")),
        ListExport(list_name="members"),
        ListExport(list_name="Members", columns=("EMAIL_ADDRESS_", "first_name")),
        PetExport(pet="orders", key_columns=("CUSTOMER_ID_", "EMAIL_ADDRESS_"), columns=("TOTAL",)),
        AudienceExport(audience="buyers"),
    ],
)
def test_a_valid_export_of_each_source_has_no_errors(what: Any) -> None:
    assert errors(export(what)) == {}


@pytest.mark.parametrize(
    ("what", "field", "message"),
    [
        (TableExport(table="Nope"), "settings.source.table", "no table named Nope"),
        (
            TableExport(table="Customers", columns=("ID", "ghost")),
            "settings.source.columns[1]",
            "the table has no column ghost",
        ),
        (
            TableExport(table="Customers", columns=("ID", "id")),
            "settings.source.columns[1]",
            "column id is chosen twice",
        ),
        (TableExport(table='x"; DROP TABLE y; --'), "settings.source.table", None),
        (ListExport(list_name="Nope"), "settings.source.list_name", "no list named Nope"),
        (
            ListExport(list_name="Members", columns=("TOTAL",)),
            "settings.source.columns[0]",
            "the list has no column TOTAL",
        ),
        (PetExport(pet="Nope"), "settings.source.pet", "no PET named Nope"),  # `DEFINED` knows Orders only
        (
            PetExport(pet="Orders", key_columns=()),
            "settings.source.key_columns",
            "give at least one column of the list",
        ),
        (
            PetExport(pet="Orders", columns=("FIRST_NAME",)),
            "settings.source.columns[0]",
            "the PET has no column FIRST_NAME",
        ),
        (AudienceExport(audience="Nope"), "settings.source.audience", "no audience named Nope"),
    ],
)
def test_what_is_exported_must_be_defined(what: Any, field: str, message: str | None) -> None:
    named = getattr(what, "table", None) or getattr(what, "list_name", None) or getattr(what, "audience", None)
    found = errors(export(what), Exported() if named == "Nope" else DEFINED)
    assert field in found, found
    if message is not None:
        assert found[field] == message


def test_an_identifier_with_quotes_or_semicolons_is_refused_without_quoting_it() -> None:
    found = errors(export(TableExport(table="Customers", columns=('ID"; DROP TABLE x; --',))))
    assert list(found) == ["settings.source.columns[0]"]
    assert "DROP" not in found["settings.source.columns[0]"]


def test_an_audience_that_no_longer_fits_its_list_is_refused_naming_the_failing_part() -> None:
    without_pet = Exported(list=members(), pets={}, audience=AUDIENCE)
    found = errors(export(AudienceExport(audience="Buyers")), without_pet)
    assert found["settings.source.audience"].startswith("audience Buyers no longer fits its list and PETs (pets[0]")


@pytest.mark.parametrize(
    ("path", "file", "message"),
    [
        ("out/*.csv", CsvOutput(), "an export writes one file: give its name without `*`"),
        ("out/.hidden.csv", CsvOutput(), "the file name must not start with '.'"),
        ("out/c.csv", CsvOutput(compression="gzip"), "a gzip file's name must end with .gz"),
        ("out/c.csv", CsvOutput(compression="zip"), "a zip file's name must end with .zip"),
        (
            "out/c.csv.gz",
            CsvOutput(),
            "the name ends like a compressed file's: choose the compression, or another name",
        ),
        ("out/", CsvOutput(), "must end with a file name, not a folder"),
    ],
)
def test_the_file_name_is_one_file_with_its_compressions_suffix(path: str, file: CsvOutput, message: str) -> None:
    assert errors(export(path=path, file=file)) == {"settings.destination.path": message}


def test_a_hosted_export_goes_to_the_download_folder() -> None:
    hosted = ExportFile(source=TableExport(table="Customers"), destination=HostedLocation(path="upload/c.csv"))
    found = errors(JobDefinition(name="Export", settings=hosted))
    assert found == {"settings.destination.path": "must be a file in the download/ folder of the hosted file server"}
    fine = hosted.model_copy(update={"destination": HostedLocation(path="download/daily/c_%YYYY%%MM%%DD%.csv")})
    assert errors(JobDefinition(name="Export", settings=fine)) == {}


def test_options_that_cannot_work_together_are_refused() -> None:
    definition = export(
        TableExport(table="Customers"),
        file=CsvOutput(qualifier="", quote="always"),
        files=ExportFileRules(count_file="cnt", ready_file="CNT"),
        incremental=True,
    )
    assert errors(definition) == {
        "settings.file.quote": "quoting every value needs a qualifier",
        "settings.files.ready_file": "must differ from the count file's",
        "settings.incremental": "only a list or an audience can be exported incrementally (their rows keep "
        "MODIFIED_DATE_)",
    }


def test_a_run_freezes_what_the_export_reads() -> None:
    table = freeze(7, export(TableExport(table="Customers")), DEFINED)
    assert (table.table, table.list, table.pets, table.audience) == (customers(), None, (), None)
    listed = freeze(7, export(ListExport(list_name="Members")), DEFINED)
    assert (listed.table, listed.list) == (members().as_table(), members())
    pet = freeze(7, export(PetExport(pet="Orders")), DEFINED)
    assert (pet.table, pet.list, pet.pets) == (orders_pet().as_table(), members(), (orders_pet(),))
    audience = freeze(7, export(AudienceExport(audience="Buyers")), DEFINED)
    assert (audience.list, audience.pets, audience.audience) == (members(), (orders_pet(),), AUDIENCE)


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        (TableExport(table="Customers"), "TABLE_NOT_FOUND"),
        (ListExport(list_name="Members"), "LIST_NOT_FOUND"),
        (PetExport(pet="Orders"), "PET_NOT_FOUND"),
        (AudienceExport(audience="Buyers"), "AUDIENCE_NOT_FOUND"),
    ],
)
def test_a_run_of_an_export_whose_source_is_gone_is_refused(what: Any, reason: str) -> None:
    with pytest.raises(Rejected) as refused:
        freeze(7, export(what), Exported())
    assert refused.value.reason == reason


def api_export(what: Any = None, **fields: Any) -> JobDefinition:
    endpoint = fields.pop("endpoint", None) or ApiEndpoint(
        url="https://login.example.com", user="api", credential_ref=UUID(int=1)
    )
    settings = ExportApi(
        source=what or ListExport(list_name="Members", columns=("EMAIL_ADDRESS_", "FIRST_NAME")),
        endpoint=endpoint,
        remote_list=fields.pop("remote_list", "CONTACTS"),
        **fields,
    )
    return JobDefinition(name="Push", settings=settings)


def test_a_valid_export_to_a_marketing_api_has_no_errors() -> None:
    assert errors(api_export()) == {}
    assert errors(api_export(AudienceExport(audience="Buyers"))) == {}
    assert errors(api_export(ListExport(list_name="Members"), incremental=True)) == {}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://login.example.com", "must use https (plain http only to the runner's own machine)"),
        ("https://login.example.com/rest/api", "give the server only (scheme and host, and a port if needed), without "
         "a path or credentials"),
        ("https://u:p@login.example.com", "give the server only (scheme and host, and a port if needed), without a "
         "path or credentials"),
        ("ftp://login.example.com", "must be an https URL such as https://login.example.com"),
        ("login.example.com", "must be an https URL such as https://login.example.com"),
    ],
)  # fmt: skip
def test_the_endpoint_is_an_https_server(url: str, message: str) -> None:
    endpoint = ApiEndpoint(url=url, user="api", credential_ref=UUID(int=1))
    assert errors(api_export(endpoint=endpoint)) == {"settings.endpoint.url": message}
    loopback = ApiEndpoint(url="http://127.0.0.1:8080", user="api", credential_ref=UUID(int=1))
    assert errors(api_export(endpoint=loopback)) == {}


def test_the_merge_rule_follows_the_apis_rules() -> None:
    rule = MergeRule(match_column_1="EMAIL_MD5_HASH_", match_column_2="EMAIL_MD5_HASH_", opt_in_value="")
    found = errors(api_export(ListExport(list_name="Members"), merge=rule, remote_list=" "))
    assert found == {
        "settings.remote_list": "is required",
        "settings.merge.match_column_2": "must differ from match_column_1",
        "settings.merge.insert_on_no_match": "must be false when matching on a hash column (a record cannot be made "
        "from a hash)",
        "settings.merge.opt_in_value": "is required",
    }


def test_the_columns_pushed_must_hold_the_match_columns() -> None:
    rule = MergeRule(match_column_1="CUSTOMER_ID_")
    found = errors(api_export(ListExport(list_name="Members", columns=("EMAIL_ADDRESS_",)), merge=rule))
    message = "the columns pushed must include CUSTOMER_ID_, which the remote list matches on"
    assert found == {"settings.merge.match_column_1": message}
