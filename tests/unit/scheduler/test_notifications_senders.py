"""The senders' own work, without a network: the webhook request and how transport failures count (httpx's
mock transport), the email message; the real SMTP and HTTP peers are in the integration tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest

from connect_events import RunCounts, RunStatus
from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.adapters.smtp import email_message
from connect_scheduler.adapters.webhook import WebhookSender
from connect_scheduler.domain.notifications import DELIVERED, Attempt, RunNotice

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2025, 3, 1, 9, 40, tzinfo=UTC)
KEY = b"0123456789abcdef0123456789abcdef"
PUBLIC = "http://connect.test"
DELIVERY_ID = UUID("00000000-0000-0000-0000-00000000d001")


def delivery(channel: str = "webhook", target: tuple[str, ...] = ("https://hooks.test/in",)) -> Delivery:
    notice = RunNotice(
        id=12,
        run_id=3,
        name="Nightly",
        status=RunStatus.FAILED,
        counts=RunCounts(rows_read=7),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=30),
        error="the file was not found",
    )
    return Delivery(delivery_id=DELIVERY_ID, channel=channel, target=target, notice=notice, attempt=1)  # type: ignore[arg-type]


def sender(handler: httpx.MockTransport, key: bytes | None = KEY) -> WebhookSender:
    return WebhookSender(httpx.AsyncClient(transport=handler), PUBLIC, key, lambda: NOW)


class TestWebhook:
    async def test_posts_the_notice_signed_over_timestamp_and_body(self) -> None:
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        assert await sender(httpx.MockTransport(answer))(delivery()) == DELIVERED
        [request] = seen
        timestamp = request.headers["X-Connect-Timestamp"]
        expected = hmac.new(KEY, timestamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
        assert (request.method, str(request.url)) == ("POST", "https://hooks.test/in")
        assert timestamp == str(int(NOW.timestamp()))
        assert request.headers["X-Connect-Signature"] == f"sha256={expected}"
        assert request.headers["X-Connect-Delivery"] == str(DELIVERY_ID)
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content)["log_url"] == "http://connect.test/api/v1/runs/12.3/log"

    async def test_without_a_key_it_is_sent_unsigned(self) -> None:
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200)

        assert await sender(httpx.MockTransport(answer), key=None)(delivery()) == DELIVERED
        assert "X-Connect-Signature" not in seen[0].headers

    async def test_the_answer_counts(self) -> None:
        attempt = await sender(httpx.MockTransport(lambda _: httpx.Response(410)))(delivery())
        assert attempt == Attempt(problem="the receiver answered HTTP 410", permanent=True)

    @pytest.mark.parametrize(
        ("error", "attempt"),
        [
            (httpx.ConnectError("refused"), Attempt(problem="could not reach the receiver")),
            (httpx.ReadTimeout("slow"), Attempt(problem="the receiver did not answer within 10 s")),
            (httpx.RemoteProtocolError("garbage"), Attempt(problem="could not reach the receiver")),
            (httpx.UnsupportedProtocol("gopher"), Attempt(problem="the webhook URL cannot be used", permanent=True)),
        ],
    )
    async def test_transport_failures_in_our_words(self, error: Exception, attempt: Attempt) -> None:
        def fail(request: httpx.Request) -> httpx.Response:
            raise error

        assert await sender(httpx.MockTransport(fail))(delivery()) == attempt


def test_the_email_goes_to_every_address_with_the_notice() -> None:
    message = email_message(delivery("email", ("a@example.com", "b@example.com")), "connect@example.com", PUBLIC)
    assert message["To"] == "a@example.com, b@example.com"
    assert message["From"] == "connect@example.com"
    assert message["Subject"] == 'Connect: job 12.3 "Nightly" failed'
    assert message["X-Connect-Delivery"] == str(DELIVERY_ID)
    assert message["Message-ID"].endswith("@example.com>")
    body = message.get_content()
    assert "Error: the file was not found" in body
    assert "Log: http://connect.test/api/v1/runs/12.3/log" in body
