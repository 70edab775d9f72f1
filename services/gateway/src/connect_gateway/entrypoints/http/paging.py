"""Lists over HTTP: the `sort`, `cursor` and shared filter parameters in, a page and the next page's address out.

A page is the JSON array itself; when more rows follow, the `Link` header (RFC 8288) names the next page
(`<...&cursor=...>; rel="next"`), the same query with the cursor of where this page ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from connect_gateway.domain import limits as lim
from connect_gateway.domain.listing import IntKind, Kind, Position, Sort, decode_cursor, encode_cursor, parse_sort
from connect_gateway.entrypoints.http.fields import Cursor, SearchText
from connect_gateway.read_models import Page

T = TypeVar("T")
Out = TypeVar("Out")

CursorParam = Annotated[
    Cursor | None,
    Query(description='Where the previous page ended: the `cursor` of its `Link: <…>; rel="next"` header'),
]
Limit = Annotated[int, Query(ge=1, le=lim.MAX_PAGE, description="Rows per page")]
# The filters the job and group lists share.
ScheduleTypeFilter = Annotated[
    str | None, Query(pattern="^(on_demand|one_time|daily|weekly|monthly|cron)$", description="Schedule type")
]
NameFilter = Annotated[SearchText | None, Query(description="Part of the name, any case")]

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


def sorted_start(
    sort: str, cursor: str | None, columns: Mapping[str, Kind], ids: Sequence[IntKind]
) -> tuple[Sort, Position | None]:
    """The order the `sort` parameter names, and where in it the page starts (None for the first page)."""
    order = parse_sort(sort, columns)
    return order, position_of(cursor, order, columns, ids)


def page_out(request: Request, response: Response, page: Page[T], out: Callable[[T], Out]) -> list[Out]:
    """The page's rows as `out` shows them; `Link` names the next page when one follows."""
    if page.next is not None:
        url = request.url.include_query_params(cursor=encode_cursor(page.next))
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return [out(row) for row in page.items]
