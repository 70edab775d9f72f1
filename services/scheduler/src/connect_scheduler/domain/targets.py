"""What a job writes or reads (its target), as the scheduler finds it when deciding, and what a run request freezes
of it.

A custom-table import (and an analytics feed import) writes one table; a profile import a list and, from the same
file, the PETs it names. An export reads a table, a list, a PET (with its list) or an audience (with its list and
PETs). Validation (`domain/validation.py`) reports what is missing as field errors; a run of a job whose target is
missing is refused, as the runner could do nothing (`freeze`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from connect_events import (
    AudienceExport,
    AudienceSpec,
    ExportApi,
    ExportFile,
    ExportSource,
    ImportAnalyticsFeed,
    ImportCustomTable,
    JobDefinition,
    ListExport,
    ListSpec,
    PetExport,
    PetSpec,
    TableExport,
    TableSpec,
)
from connect_scheduler.domain.rejection import Rejected


@dataclass(frozen=True)
class Profile:
    """A profile import's list (None: not defined) and the PETs it names that are defined, by lower-cased name."""

    list: ListSpec | None
    pets: Mapping[str, PetSpec] = field(default_factory=lambda: MappingProxyType({}))

    def pet(self, name: str) -> PetSpec | None:
        """The PET called `name` (any case), if the job names it and it is defined."""
        return self.pets.get(name.lower())


@dataclass(frozen=True)
class Exported:
    """What an export reads, as defined now (None: not defined): its table; or its list, with the PETs it names by
    lower-cased name (a PET export's one, an audience's) and its audience."""

    table: TableSpec | None = None
    list: ListSpec | None = None
    pets: Mapping[str, PetSpec] = field(default_factory=lambda: MappingProxyType({}))
    audience: AudienceSpec | None = None

    def pet(self, name: str) -> PetSpec | None:
        """The PET called `name` (any case), if the export names it and it is defined."""
        return self.pets.get(name.lower())


Target = TableSpec | Profile | Exported | None
"""A custom-table import's table (None: not defined), a profile import's `Profile`, or an export's `Exported`."""


@dataclass(frozen=True)
class Frozen:
    """What a run request carries of its target: the table the runner loads (or an export reads) and, for a
    profile import, the list (`table` is its table view) and the PETs, in the order the job names them; for an
    export of a list, a PET or an audience, the list, the PETs read and the audience."""

    table: TableSpec
    list: ListSpec | None = None
    pets: tuple[PetSpec, ...] = ()
    audience: AudienceSpec | None = None


def freeze(job_id: int, definition: JobDefinition, target: Target) -> Frozen:
    """`target` as a run of job `job_id` freezes it; refused (`invalid_state`) when the table, the list or a PET
    the job names is not defined."""
    settings = definition.settings
    if isinstance(settings, ExportFile | ExportApi):
        return _freeze_export(job_id, settings.source, target if isinstance(target, Exported) else Exported())
    if isinstance(settings, ImportAnalyticsFeed) and settings.pet is not None:
        return _freeze_feed_pet(job_id, settings.pet, target if isinstance(target, Profile) else Profile(None))
    if isinstance(settings, ImportCustomTable | ImportAnalyticsFeed):
        if not isinstance(target, TableSpec):
            message = f"table {settings.table} of job {job_id} does not exist"
            raise Rejected("invalid_state", message, reason="TABLE_NOT_FOUND")
        return Frozen(target)
    profile = target if isinstance(target, Profile) else Profile(None)
    if profile.list is None:
        message = f"list {settings.list_name} of job {job_id} does not exist"
        raise Rejected("invalid_state", message, reason="LIST_NOT_FOUND")
    pets: list[PetSpec] = []
    for named in settings.pets:
        if (pet := profile.pet(named.pet)) is None:
            raise Rejected("invalid_state", f"PET {named.pet} of job {job_id} does not exist", reason="PET_NOT_FOUND")
        pets.append(pet)
    return Frozen(profile.list.as_table(), profile.list, tuple(pets))


def _freeze_feed_pet(job_id: int, name: str, profile: Profile) -> Frozen:
    """An analytics feed into a PET: its list (a PET without one is missing too) and the PET."""
    pet = profile.pet(name)
    if pet is None or profile.list is None:
        raise Rejected("invalid_state", f"PET {name} of job {job_id} does not exist", reason="PET_NOT_FOUND")
    return Frozen(profile.list.as_table(), profile.list, (pet,))


def _freeze_export(job_id: int, source: ExportSource, exported: Exported) -> Frozen:
    if isinstance(source, TableExport):
        if exported.table is None:
            message = f"table {source.table} of job {job_id} does not exist"
            raise Rejected("invalid_state", message, reason="TABLE_NOT_FOUND")
        return Frozen(exported.table)
    if isinstance(source, AudienceExport):
        audience = exported.audience
        if audience is None:
            message = f"audience {source.audience} of job {job_id} does not exist"
            raise Rejected("invalid_state", message, reason="AUDIENCE_NOT_FOUND")
        listed = _list_of(job_id, exported, audience.list_name)
        pets = tuple(_pet_of(job_id, exported, name) for name in audience.pets)
        return Frozen(listed.as_table(), listed, pets, audience)
    if isinstance(source, PetExport):
        pet = _pet_of(job_id, exported, source.pet)
        return Frozen(pet.as_table(), _list_of(job_id, exported, pet.list_name), (pet,))
    assert isinstance(source, ListExport)
    listed = _list_of(job_id, exported, source.list_name)
    return Frozen(listed.as_table(), listed)


def _list_of(job_id: int, exported: Exported, name: str) -> ListSpec:
    if exported.list is None:
        raise Rejected("invalid_state", f"list {name} of job {job_id} does not exist", reason="LIST_NOT_FOUND")
    return exported.list


def _pet_of(job_id: int, exported: Exported, name: str) -> PetSpec:
    if (pet := exported.pet(name)) is None:
        raise Rejected("invalid_state", f"PET {name} of job {job_id} does not exist", reason="PET_NOT_FOUND")
    return pet
