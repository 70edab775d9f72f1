"""Loading jobs' targets (`domain/targets.py`) from the event store: a table, or a list and the PETs a job names.

A loader reads each stream once, so a batch of fires that names the same table or list a hundred times reads
it once; it lives as long as the transaction it reads in.
"""

from __future__ import annotations

from connect_events import (
    AudienceExport,
    AudienceSpec,
    Event,
    ExportApi,
    ExportFile,
    ExportSource,
    ImportAnalyticsFeed,
    ImportCustomTable,
    JobSettings,
    ListSpec,
    PetExport,
    PetSpec,
    TableExport,
    TableSpec,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store
from connect_scheduler.adapters.event_store import audience_stream, list_stream, pet_stream, table_stream
from connect_scheduler.domain.audiences import fold_audience
from connect_scheduler.domain.lists import fold_list, fold_pet
from connect_scheduler.domain.tables import fold_table
from connect_scheduler.domain.targets import Exported, Profile, Target


class Targets:
    """The targets of jobs as they are in `conn`'s transaction, each stream read once."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._histories: dict[str, list[Event]] = {}

    async def of(self, settings: JobSettings) -> Target:
        """What a job with `settings` writes: its table, or its list and the PETs it names (those defined); or what
        an export reads (`Exported`)."""
        if isinstance(settings, ExportFile | ExportApi):
            return await self._exported(settings.source)
        if isinstance(settings, ImportAnalyticsFeed) and settings.pet is not None:
            pet = await self.pet_spec(settings.pet)
            listed = None if pet is None else await self.list_spec(pet.list_name)
            return Profile(listed, {} if pet is None else {pet.name.lower(): pet})
        if isinstance(settings, ImportCustomTable | ImportAnalyticsFeed):
            return await self.table_spec(settings.table)
        pets = {
            named.pet.lower(): pet for named in settings.pets if (pet := await self.pet_spec(named.pet)) is not None
        }
        return Profile(await self.list_spec(settings.list_name), pets)

    async def _exported(self, source: ExportSource) -> Exported:
        if isinstance(source, TableExport):
            return Exported(table=await self.table_spec(source.table))
        if isinstance(source, PetExport):
            pet = await self.pet_spec(source.pet)
            listed = None if pet is None else await self.list_spec(pet.list_name)
            return Exported(list=listed, pets={} if pet is None else {pet.name.lower(): pet})
        if isinstance(source, AudienceExport):
            audience = await self.audience_spec(source.audience)
            if audience is None:
                return Exported()
            pets = {name.lower(): pet for name in audience.pets if (pet := await self.pet_spec(name)) is not None}
            return Exported(list=await self.list_spec(audience.list_name), pets=pets, audience=audience)
        return Exported(list=await self.list_spec(source.list_name))

    async def audience_spec(self, name: str) -> AudienceSpec | None:
        """The current spec of audience `name` (any case), if defined and not deleted."""
        state = fold_audience(await self._history(audience_stream(name)))
        return None if state is None or state.deleted else state.spec

    async def table_spec(self, name: str) -> TableSpec | None:
        """The current spec of table `name` (any case), if defined."""
        state = fold_table(await self._history(table_stream(name)))
        return None if state is None else state.spec

    async def list_spec(self, name: str) -> ListSpec | None:
        """The current spec of list `name` (any case), if defined."""
        state = fold_list(await self._history(list_stream(name)))
        return None if state is None else state.spec

    async def pet_spec(self, name: str) -> PetSpec | None:
        """The current spec of PET `name` (any case), if defined."""
        state = fold_pet(await self._history(pet_stream(name)))
        return None if state is None else state.spec

    async def _history(self, stream: str) -> list[Event]:
        if stream not in self._histories:
            self._histories[stream] = (await event_store.load(self._conn, stream))[0]
        return self._histories[stream]
