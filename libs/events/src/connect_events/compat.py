"""Breaking-change check between two published versions of a topic's JSON Schema.

A change is compatible when every message a consumer of the old contract could read still validates, and every
message an old producer wrote is still understood: no message type or field disappears, no field becomes
required, no field changes type. Widening is allowed: a new optional field, a new message type, a new enum
value or union member. A breaking change needs a new `schema_version` of the message instead.
"""

from __future__ import annotations

from typing import Any

# Keys that document a schema without constraining it.
_DOCUMENTATION = {"title", "description", "default", "examples"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable breaking changes from `old` to `new` (empty when compatible)."""
    problems: list[str] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, old_def in old_defs.items():
        if name not in new_defs:
            problems.append(f"{name}: removed")
            continue
        problems.extend(_model_changes(name, old_def, new_defs[name]))
    old_types, new_types = _wire_names(old), _wire_names(new)
    problems.extend(f"message type {t!r}: removed" for t in sorted(old_types - new_types))
    return problems


def _model_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for prop, old_schema in old_props.items():
        if prop not in new_props:
            problems.append(f"{name}.{prop}: removed")
        elif not _widens(old_schema, new_props[prop]):
            problems.append(f"{name}.{prop}: type changed from {_core(old_schema)} to {_core(new_props[prop])}")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    problems.extend(f"{name}.{prop}: now required" for prop in sorted(newly_required))
    if "enum" in old and not set(old["enum"]) <= set(new.get("enum", [])):
        problems.append(f"{name}: enum values removed")
    return problems


def _widens(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether every value valid under `old` is valid under `new` (for the shapes pydantic emits)."""
    old_core, new_core = _core(old), _core(new)
    if old_core == new_core:
        return True
    if "enum" in old_core and "enum" in new_core:
        return set(old_core["enum"]) <= set(new_core["enum"]) and _without(old_core, "enum") == _without(
            new_core, "enum"
        )
    if "const" in old_core and "enum" in new_core:
        return old_core["const"] in new_core["enum"]
    new_members = new_core.get("anyOf") or new_core.get("oneOf")
    if new_members is not None:
        old_members = old_core.get("anyOf") or old_core.get("oneOf") or [old_core]
        return all(any(_widens(o, n) for n in new_members) for o in old_members)
    return False


def _core(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in _DOCUMENTATION}


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _wire_names(schema: dict[str, Any]) -> set[str]:
    mapping: dict[str, str] = schema.get("discriminator", {}).get("mapping", {})
    return set(mapping)
