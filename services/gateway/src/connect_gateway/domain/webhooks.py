"""Who sees a notification webhook's whole URL: its path or query often holds the receiver's secret token."""

from __future__ import annotations

from urllib.parse import urlsplit

from connect_events import Role
from connect_gateway.domain.identity.roles import at_least

# Those who may edit notifications (data directors and admins) see what they would edit; the rest see
# where messages go, not how to send one themselves.
WEBHOOK_READERS = at_least(Role.DATA_DIRECTOR)
ELIDED = "…"


def shown_webhook_url(url: str | None, role: Role) -> str | None:
    """`url` whole for `WEBHOOK_READERS`; for any other role its scheme and host only."""
    if url is None or role in WEBHOOK_READERS:
        return url
    return scheme_and_host(url)


def scheme_and_host(url: str) -> str:
    """`https://hooks.example.com/…`: no user, password, port, path or query; `…` alone when there is no host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ELIDED
    if not parts.scheme or not host:
        return ELIDED
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}/{ELIDED}"
