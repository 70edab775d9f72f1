"""Webhook notifications: a JSON POST of the notice (httpx), signed with HMAC-SHA256.

Headers: `X-Connect-Delivery` (the delivery id, the same on every attempt, so a receiver can drop a repeat),
`X-Connect-Timestamp` (Unix seconds of this attempt) and, when a signing key is set, `X-Connect-Signature:
sha256=<hex>`, the HMAC-SHA256 under the key of the timestamp header's value, a `.` and the raw body bytes
(`domain.notifications.signature`). Redirects are not followed, and the answer's body is never read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.domain.notifications import Attempt, http_attempt, signature, webhook_body

WEBHOOK_TIMEOUT_S = 10.0  # to connect, and between two reads or writes
USER_AGENT = "Connect-Scheduler"


class WebhookSender:
    """POSTs a delivery's notice to its URL; `signing_key` None sends it unsigned."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        public_url: str,
        signing_key: bytes | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._public_url = public_url
        self._key = signing_key
        self._clock = clock

    async def __call__(self, delivery: Delivery) -> Attempt:
        [url] = delivery.target
        body = webhook_body(delivery.notice, self._public_url)
        try:
            async with self._client.stream("POST", url, content=body, headers=self.headers(delivery, body)) as answer:
                return http_attempt(answer.status_code)
        except httpx.TimeoutException:
            return Attempt(problem=f"the receiver did not answer within {WEBHOOK_TIMEOUT_S:g} s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return Attempt(problem="the webhook URL cannot be used", permanent=True)
        except httpx.HTTPError:
            return Attempt(problem="could not reach the receiver")

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
