"""Which field of a profile import's records fills which column of the list and of each PET (ADR 0011).

The list's mapping and every PET's resolve against the same header (`plan.resolve_by_header`, or by position)
and are staged as one record: the list's columns first, then each PET's, numbered on (`MappedColumn.slot`). The
match columns are the staged plan's keys. A mapped mobile number also stages `MOBILE_COUNTRY_`, read from the
same field: the number's region is written there.

A mapping the job should not have (checked on save as well, but a definition may predate a check) fails the run
`LOAD_FAILED` before anything is staged: an unmapped match column, a derived or assigned column as a target
(`RIID_` and the hash columns only as match columns), a PET of another list, an unmapped channel the job
rejects empty rows of, local mobile numbers without their country.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from connect_events import ImportProfileData, ListSpec, PetSpec, TableSpec
from connect_events.lists import ASSIGNED_COLUMNS, DERIVED_COLUMNS, HASH_COLUMNS, RIID, SYSTEM_COLUMNS
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.plan import LoadPlan, MappedColumn

EMAIL = "EMAIL_ADDRESS_"
MOBILE = "MOBILE_NUMBER_"
MOBILE_COUNTRY = "MOBILE_COUNTRY_"
CHANNEL_COLUMNS = {"E": EMAIL, "M": MOBILE, "P": "POSTAL_STREET_1_"}
_COUNTRY_SPEC = next(c for c in SYSTEM_COLUMNS if c.name == MOBILE_COUNTRY)


@dataclass(frozen=True)
class PetPart:
    """One PET filled by the import, and its staged columns."""

    pet: PetSpec
    columns: tuple[MappedColumn, ...]


@dataclass(frozen=True)
class ProfilePlan:
    """The resolved mapping of one file onto a list and its PETs: `staged` holds every staged field (the list's
    columns, then the PETs'), keyed by the match columns; `list_columns` are the list's part."""

    staged: LoadPlan
    list_spec: ListSpec
    list_columns: tuple[MappedColumn, ...]
    pets: tuple[PetPart, ...]

    @property
    def matches(self) -> tuple[MappedColumn, ...]:
        """The match columns, in the job's order."""
        return self.staged.keys

    @property
    def values(self) -> tuple[MappedColumn, ...]:
        """The list's mapped columns outside the match columns (what an update replaces)."""
        return tuple(c for c in self.list_columns if not c.is_key)

    def column(self, name: str) -> MappedColumn | None:
        """The list's staged column `name` (a system column's exact name), if mapped."""
        return next((c for c in self.list_columns if c.column.name == name), None)


def match_columns(settings: ImportProfileData) -> tuple[str, ...]:
    """The job's match columns: one, or two (compared with AND)."""
    second = settings.match_column_2
    return (
        (settings.match_column_1,)
        if second is None or second == settings.match_column_1
        else (
            settings.match_column_1,
            second,
        )
    )


def list_table(spec: ListSpec, settings: ImportProfileData) -> TableSpec:
    """The list as its mapping resolves: every column, keyed by the match columns."""
    return TableSpec(name=spec.name, columns=spec.all_columns(), primary_key=match_columns(settings))


def pet_table(spec: PetSpec) -> TableSpec:
    """The PET as its mapping resolves: its own columns (its `RIID_` comes from the list row)."""
    return TableSpec(name=spec.name, columns=spec.columns, primary_key=())


def inserts(settings: ImportProfileData) -> bool:
    """Whether rows matching nothing are inserted: not by a hash (no address to store) nor by `RIID_` match
    columns (RIIDs are the store's to give, a file cannot name a new one), else as the job says."""
    keys = set(match_columns(settings))
    return settings.insert_on_no_match and not keys & (HASH_COLUMNS | {RIID})


def pet_specs(settings: ImportProfileData, list_spec: ListSpec, pets: Sequence[PetSpec]) -> list[PetSpec]:
    """The definitions of the job's PETs (from the run's request), in the job's order."""
    known = {p.name.casefold(): p for p in pets}
    found: list[PetSpec] = []
    for wanted in settings.pets:
        spec = known.get(wanted.pet.casefold())
        if spec is None:
            raise RunFailure("LOAD_FAILED", f"the PET '{wanted.pet}' is not defined")
        if spec.list_name.casefold() != list_spec.name.casefold():
            raise RunFailure("LOAD_FAILED", f"the PET '{spec.name}' belongs to list '{spec.list_name}', not this one")
        found.append(spec)
    return found


def check_mapping(settings: ImportProfileData, spec: ListSpec) -> None:
    """Refuse a list mapping the job cannot load (see the module's docstring)."""
    table = list_table(spec, settings)
    targets = {c.name for m in settings.mapping if (c := table.column(m.target)) is not None}
    keys = match_columns(settings)
    for key in keys:
        if key not in targets:
            raise RunFailure("LOAD_FAILED", f"the match column {key} is not mapped")
    for name in sorted(targets - set(keys)):
        if name in DERIVED_COLUMNS or name in ASSIGNED_COLUMNS:
            raise RunFailure("LOAD_FAILED", f"{name} is set by the list itself; it cannot be mapped")
    for channel in settings.reject_if_channel_empty:
        if CHANNEL_COLUMNS[channel] not in targets:
            why = f"rows with an empty {CHANNEL_COLUMNS[channel]} are to be rejected"
            raise RunFailure("LOAD_FAILED", f"{why}, but no source column is mapped to it")
    if MOBILE in targets and settings.mobile_mode == "local" and not settings.mobile_country:
        raise RunFailure("LOAD_FAILED", "local mobile numbers need the job's mobile country")


def profile_plan(list_plan: LoadPlan, pets: Sequence[tuple[PetSpec, LoadPlan]], spec: ListSpec) -> ProfilePlan:
    """One staged plan from the list's and the PETs' plans (each resolved on its own, slots from 1)."""
    columns = list(list_plan.columns)
    mobile = next((c for c in columns if c.column.name == MOBILE), None)
    if mobile is not None and all(c.column.name != MOBILE_COUNTRY for c in columns):
        columns.append(MappedColumn(mobile.position, _COUNTRY_SPEC, is_key=False, slot=len(columns) + 1))
    list_columns = tuple(columns)
    parts: list[PetPart] = []
    for pet, plan in pets:
        part = tuple(replace(c, slot=len(columns) + i) for i, c in enumerate(plan.columns, 1))
        columns.extend(part)
        parts.append(PetPart(pet, part))
    staged = replace(list_plan, columns=tuple(columns))
    return ProfilePlan(staged=staged, list_spec=spec, list_columns=list_columns, pets=tuple(parts))
