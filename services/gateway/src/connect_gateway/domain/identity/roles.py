"""Roles are ordered: each includes what the roles before it may do (spec §8.5)."""

from __future__ import annotations

from connect_events import Role

ORDER: tuple[Role, ...] = (Role.VIEWER, Role.OPERATOR, Role.DATA_DIRECTOR, Role.ADMIN)


def at_least(role: Role) -> frozenset[Role]:
    """`role` and every role above it."""
    return frozenset(ORDER[ORDER.index(role) :])
