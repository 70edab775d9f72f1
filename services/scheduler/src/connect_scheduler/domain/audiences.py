"""The audience aggregate (spec §1): a saved filter over a list and its PETs, defined, replaced and deleted.

A definition is checked against the list and PETs as they are defined now (`connect_runtime.audiences`: every
error at once, each naming its field under `audience.`); the events name the list and PETs as they were
defined, whatever case the command used. A deleted audience's name may be defined again (its stream goes on).
An audience is keyed by its lower-cased name, like tables, lists and PETs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connect_events import (
    AudienceDefined,
    AudienceDeleted,
    AudienceNamePayload,
    AudiencePayload,
    AudienceSpec,
    AudienceUpdated,
    DefineAudience,
    DeleteAudience,
    Event,
    FieldError,
    ListSpec,
    PetSpec,
    RefusalReason,
    UpdateAudience,
)
from connect_runtime.audiences import audience_errors
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.lists import label
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.tables import identifier_errors, table_key


@dataclass(frozen=True)
class AudienceState:
    """An audience's latest definition, its aggregate version, and whether it was deleted."""

    spec: AudienceSpec
    version: int
    deleted: bool = False


def fold_audience(events: Iterable[Event]) -> AudienceState | None:
    """The audience after its stream's events (None: never defined)."""
    state: AudienceState | None = None
    for event in events:
        if isinstance(event, AudienceDefined | AudienceUpdated):
            state = AudienceState(event.payload.audience, event.aggregate_version)
        elif isinstance(event, AudienceDeleted) and state is not None:
            state = AudienceState(state.spec, event.aggregate_version, deleted=True)
        else:
            raise TypeError(f"an audience stream cannot hold {type(event).__name__} here")
    return state


def decide_define_audience(
    state: AudienceState | None,
    list_spec: ListSpec | None,
    pets: Mapping[str, PetSpec],
    cmd: DefineAudience,
    causation: Causation,
) -> list[Event]:
    """Define a new audience (a deleted one's name too), or refuse: `conflict` for a name in use, `validation`
    listing every error (`LIST_NOT_FOUND` when the list is one of them, else `AUDIENCE_INVALID`)."""
    spec = cmd.payload.audience
    if state is not None and not state.deleted:
        raise Rejected("conflict", f"an audience named {state.spec.name} already exists", reason="AUDIENCE_EXISTS")
    checked = _checked(spec, list_spec, pets, identifier_errors("audience.name", spec.name))
    version = 1 if state is None else state.version + 1
    payload = AudiencePayload(audience=checked)
    return [AudienceDefined(**envelope(causation, 0, table_key(spec.name), version), payload=payload)]


def decide_update_audience(
    state: AudienceState | None,
    list_spec: ListSpec | None,
    pets: Mapping[str, PetSpec],
    cmd: UpdateAudience,
    causation: Causation,
) -> list[Event]:
    """Replace an audience's PETs, filter and columns (`not_found`; its list cannot change; `validation`)."""
    spec = cmd.payload.audience
    current = _existing(state, spec.name)
    errors: list[FieldError] = []
    if spec.list_name.lower() != current.spec.list_name.lower():
        message = f"an audience keeps its list ({label('list', current.spec.list_name)}): define a new one instead"
        errors.append(FieldError(field="audience.list_name", message=message))
    checked = _checked(spec.model_copy(update={"name": current.spec.name}), list_spec, pets, errors)
    payload = AudiencePayload(audience=checked)
    return [AudienceUpdated(**envelope(causation, 0, table_key(spec.name), current.version + 1), payload=payload)]


def decide_delete_audience(state: AudienceState | None, cmd: DeleteAudience, causation: Causation) -> list[Event]:
    """Delete an audience (`not_found` when there is none)."""
    current = _existing(state, cmd.payload.name)
    payload = AudienceNamePayload(name=current.spec.name)
    return [
        AudienceDeleted(**envelope(causation, 0, table_key(current.spec.name), current.version + 1), payload=payload)
    ]


def _existing(state: AudienceState | None, name: str) -> AudienceState:
    if state is None or state.deleted:
        raise Rejected("not_found", f"{label('audience', name)} does not exist", reason="AUDIENCE_NOT_FOUND")
    return state


def _checked(
    spec: AudienceSpec, list_spec: ListSpec | None, pets: Mapping[str, PetSpec], errors: list[FieldError]
) -> AudienceSpec:
    """`spec` naming its list and PETs as defined, or the refusal listing every error."""
    found = [FieldError(field=f"audience.{e.field}", message=e.message) for e in audience_errors(spec, list_spec, pets)]
    errors = errors + found
    if errors:
        reason: RefusalReason = "LIST_NOT_FOUND" if list_spec is None else "AUDIENCE_INVALID"
        raise invalid(f"{label('audience', spec.name)} has {len(errors)} error(s)", errors, reason)
    assert list_spec is not None, "an audience without errors has its list"
    named = tuple(pets[p.lower()].name for p in spec.pets)
    return spec.model_copy(update={"list_name": list_spec.name, "pets": named})
