"""Auto-mapping (spec §4.2) for any import target: the header names a request gives, or a hosted file's header
line, matched to the target's columns by name."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import Request

from connect_events import FieldError
from connect_gateway.domain.auto_mapping import auto_map
from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.hosted import get_hosted, tree_errors
from connect_gateway.entrypoints.http.schemas import AutoMappingIn, AutoMappingOut, SuggestedMappingOut
from connect_gateway.files.header import HeaderError, read_header

EITHER = "give either header or hosted_path"


async def suggest(body: AutoMappingIn, request: Request, columns: Sequence[str]) -> AutoMappingOut:
    """The mapping of the request's header names to `columns` (nothing is stored)."""
    found = auto_map(await _header(body, request), columns)
    return AutoMappingOut(
        mapping=[SuggestedMappingOut(source=source, target=target) for source, target in found.mapping],
        unmatched_sources=list(found.unmatched_sources),
        unmapped_columns=list(found.unmapped_columns),
    )


async def _header(body: AutoMappingIn, request: Request) -> list[str]:
    """The header names the request gives, or those of its hosted file."""
    header, path = body.header, body.hosted_path
    if (header is None) == (path is None):
        errors = [FieldError(field=f, message=EITHER) for f in ("header", "hosted_path")]
        raise Refusal("validation_failed", EITHER, errors)
    if path is None:
        if "file" in body.model_fields_set:
            raise invalid("file", "describes a hosted file: give it with hosted_path only")
        return header or []
    if not body.file.header:
        raise invalid("file.header", "must be true: auto-mapping matches the names of the header line")
    root = get_hosted(request).root
    with tree_errors("hosted_path"):
        try:
            return await asyncio.to_thread(read_header, root, path, mapping.csv_settings(body.file))
        except HeaderError as exc:
            raise invalid("hosted_path", str(exc)) from None
