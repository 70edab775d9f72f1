"""Webhook notifications: a JSON POST of the notice (httpx), signed with HMAC-SHA256.

Headers: `X-Connect-Delivery` (the delivery id, the same on every attempt, so a receiver can drop a repeat),
`X-Connect-Timestamp` (Unix seconds of this attempt) and, when a signing key is set, `X-Connect-Signature:
sha256=<hex>`, the HMAC-SHA256 under the key of the timestamp header's value, a `.` and the raw body bytes
(`domain.notifications.signature`). Redirects are not followed, and the answer's body is never read.

Unless the operator allows private receivers, the URL's host is resolved first and the request goes to the
address found, the URL's name kept in the `Host` header and for TLS: every address a name resolves to must
be public (`domain.addresses`), and a name that resolves elsewhere between the check and the request cannot
redirect it (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.domain.addresses import address_of, is_forbidden_address
from connect_scheduler.domain.notifications import Attempt, http_attempt, signature, webhook_body

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10.0  # to connect, and between two reads or writes
USER_AGENT = "Connect-Scheduler"
UNUSABLE_URL = Attempt(problem="the webhook URL cannot be used", permanent=True)
PRIVATE_RECEIVER = Attempt(
    problem="the webhook's host is a private or local address, which webhooks may not reach", permanent=True
)
UNRESOLVED = Attempt(problem="could not resolve the receiver's host name")

# The addresses (as text) a host name resolves to for a TCP connection on a port.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, with the system's resolver (without blocking the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class WebhookSender:
    """POSTs a delivery's notice to its URL; `signing_key` None sends it unsigned; `allow_private` lets it reach
    private, loopback and link-local receivers (CONNECT_WEBHOOK_ALLOW_PRIVATE)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        public_url: str,
        signing_key: bytes | None,
        clock: Callable[[], datetime],
        *,
        allow_private: bool = False,
        resolver: Resolver = resolve,
    ) -> None:
        self._client = client
        self._public_url = public_url
        self._key = signing_key
        self._clock = clock
        self._allow_private = allow_private
        self._resolve = resolver

    async def __call__(self, delivery: Delivery) -> Attempt:
        [url] = delivery.target
        body = webhook_body(delivery.notice, self._public_url)
        headers = self.headers(delivery, body)
        try:
            target = httpx.URL(url)
            extensions: dict[str, Any] = {}
            if not self._allow_private:
                pinned = await self._public_address(delivery, target)
                if isinstance(pinned, Attempt):
                    return pinned
                # The name stays what the receiver sees and what its certificate is checked against.
                headers["Host"] = target.netloc.decode("ascii")
                extensions["sni_hostname"] = target.host
                target = target.copy_with(host=pinned)
            request = self._client.stream("POST", target, content=body, headers=headers, extensions=extensions)
            async with request as answer:
                return http_attempt(answer.status_code)
        except httpx.TimeoutException:
            return Attempt(problem=f"the receiver did not answer within {WEBHOOK_TIMEOUT_S:g} s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return UNUSABLE_URL
        except httpx.HTTPError:
            return Attempt(problem="could not reach the receiver")

    async def _public_address(self, delivery: Delivery, url: httpx.URL) -> str | Attempt:
        """The address to send to when every address of the URL's host is public; else the failed attempt."""
        if url.scheme not in {"http", "https"} or not url.host:
            return UNUSABLE_URL
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            found = await self._resolve(url.host, port)
        except OSError:  # gaierror: no such name, or no resolver reachable (maybe later)
            return UNRESOLVED
        addresses = [address_of(text) for text in found]
        if not addresses or any(a is None or is_forbidden_address(a) for a in addresses):
            # Logged without the URL: it may hold a token.
            log.warning("webhook not sent: its host resolves to a private or local address", extra=_fields(delivery))
            return PRIVATE_RECEIVER
        return found[0]

    def headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        """The request's headers for `body`, signed at this instant when there is a key."""
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Connect-Delivery": str(delivery.delivery_id),
            "X-Connect-Timestamp": timestamp,
        }
        if self._key is not None:
            headers["X-Connect-Signature"] = signature(self._key, timestamp, body)
        return headers


def webhook_client() -> httpx.AsyncClient:
    """The HTTP client for webhooks: bounded waits, no redirects, no proxy or credentials from the environment."""
    return httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False, trust_env=False)


def _fields(delivery: Delivery) -> dict[str, object]:
    return {"delivery_id": str(delivery.delivery_id), "run": delivery.notice.run, "channel": delivery.channel}
