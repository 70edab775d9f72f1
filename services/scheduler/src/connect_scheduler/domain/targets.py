"""What a job writes (its target), as the scheduler finds it when deciding, and what a run request freezes of it.

A custom-table import writes one table; a profile import a list and, from the same file, the PETs it names.
Validation (`domain/validation.py`) reports what is missing as field errors; a run of a job whose target is
missing is refused, as the runner could load nothing (`freeze`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from connect_events import ImportCustomTable, JobDefinition, ListSpec, PetSpec, TableSpec
from connect_scheduler.domain.rejection import Rejected


@dataclass(frozen=True)
class Profile:
    """A profile import's list (None: not defined) and the PETs it names that are defined, by lower-cased name."""

    list: ListSpec | None
    pets: Mapping[str, PetSpec] = field(default_factory=lambda: MappingProxyType({}))

    def pet(self, name: str) -> PetSpec | None:
        """The PET called `name` (any case), if the job names it and it is defined."""
        return self.pets.get(name.lower())


Target = TableSpec | Profile | None
"""A custom-table import's table (None: not defined), or a profile import's `Profile`."""


@dataclass(frozen=True)
class Frozen:
    """What a run request carries of its target: the table the runner loads and, for a profile import, the list
    (`table` is its table view) and the PETs, in the order the job names them."""

    table: TableSpec
    list: ListSpec | None = None
    pets: tuple[PetSpec, ...] = ()


def freeze(job_id: int, definition: JobDefinition, target: Target) -> Frozen:
    """`target` as a run of job `job_id` freezes it; refused (`invalid_state`) when the table, the list or a PET
    the job names is not defined."""
    settings = definition.settings
    if isinstance(settings, ImportCustomTable):
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
