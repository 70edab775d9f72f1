"""Cursor paging over HTTP: the `sort` and `cursor` parameters in, the next page's address out.

A page is the JSON array itself; when more rows follow, the `Link` header (RFC 8288) names the next page
(`<...&cursor=...>; rel="next"`), the same query with the cursor of where this page ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Query, Request, Response

from connect_gateway.domain import limits as lim
from connect_gateway.domain.listing import IntKind, Kind, Position, Sort, decode_cursor, encode_cursor
from connect_gateway.entrypoints.http.fields import Cursor

CursorParam = Annotated[
    Cursor | None,
    Query(description='Where the previous page ended: the `cursor` of its `Link: <…>; rel="next"` header'),
]
Limit = Annotated[int, Query(ge=1, le=lim.MAX_PAGE, description="Rows per page")]

PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page, in order",
        "headers": {
            "Link": {
                "description": 'The next page, `<url>; rel="next"`; absent on the last page',
                "schema": {"type": "string"},
            }
        },
    }
}


def position_of(cursor: str | None, sort: Sort, columns: Mapping[str, Kind], ids: Sequence[IntKind]) -> Position | None:
    """Where the page starts (after), from the `cursor` parameter; None for the first page."""
    return None if cursor is None else decode_cursor(cursor, sort, columns, ids)


def link_next(request: Request, response: Response, position: Position | None) -> None:
    """Point `Link` at the page after `position`, when there is one."""
    if position is not None:
        url = request.url.include_query_params(cursor=encode_cursor(position))
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
