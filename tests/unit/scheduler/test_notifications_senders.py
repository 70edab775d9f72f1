"""The senders' own work, without a network: the webhook request and how transport failures count (httpx's
mock transport), the email message and how SMTP refusals count; the real SMTP and HTTP peers are in the
integration tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx
import pytest

from connect_events import RunCounts, RunStatus
from connect_scheduler.adapters import smtp
from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.adapters.smtp import SmtpSender, SmtpServer, email_message
from connect_scheduler.adapters.webhook import PRIVATE_RECEIVER, UNRESOLVED, Resolver, WebhookSender
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


PUBLIC_ADDRESS = "93.184.215.14"


def resolver(*addresses: str) -> Resolver:
    """A resolver that finds `addresses` for every name, and records what it was asked."""

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    asked: list[tuple[str, int]] = []
    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def sender(
    handler: httpx.MockTransport,
    key: bytes | None = KEY,
    resolve: Resolver | None = None,
    *,
    allow_private: bool = False,
) -> WebhookSender:
    client = httpx.AsyncClient(transport=handler)
    found = resolve or resolver(PUBLIC_ADDRESS)
    return WebhookSender(client, PUBLIC, key, lambda: NOW, allow_private=allow_private, resolver=found)


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
        assert (request.method, str(request.url)) == ("POST", f"https://{PUBLIC_ADDRESS}/in")  # the address checked
        assert request.headers["Host"] == "hooks.test"
        assert request.extensions["sni_hostname"] == "hooks.test"  # and the certificate checked against the name
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


class TestPrivateReceivers:
    """A webhook goes only where every address of its host is public, unless the operator allows private ones."""

    @pytest.mark.parametrize(
        "addresses",
        [
            ("127.0.0.1",),
            ("169.254.169.254",),
            ("10.1.2.3",),
            ("::1",),
            ("fd00::5",),
            ("::ffff:192.168.0.10",),
            (PUBLIC_ADDRESS, "192.168.1.1"),  # one private address among public ones is enough
        ],
    )
    async def test_a_host_resolving_to_a_private_address_is_not_called(self, addresses: tuple[str, ...]) -> None:
        called: list[httpx.Request] = []
        transport = httpx.MockTransport(lambda request: called.append(request) or httpx.Response(200))

        assert await sender(transport, resolve=resolver(*addresses))(delivery()) == PRIVATE_RECEIVER
        assert called == []

    async def test_the_refusal_is_logged_without_the_url(self, caplog: pytest.LogCaptureFixture) -> None:
        target = ("https://hooks.test/in?token=secret-token",)
        transport = httpx.MockTransport(lambda _: httpx.Response(200))
        await sender(transport, resolve=resolver("10.0.0.1"))(delivery(target=target))

        assert "webhook not sent" in caplog.text
        assert all("secret-token" not in str(vars(r)) for r in caplog.records)

    async def test_the_name_is_resolved_on_the_urls_port(self) -> None:
        resolve = resolver(PUBLIC_ADDRESS)
        transport = httpx.MockTransport(lambda _: httpx.Response(200))
        await sender(transport, resolve=resolve)(delivery(target=("http://hooks.test/in",)))
        await sender(transport, resolve=resolve)(delivery(target=("https://hooks.test:8443/in",)))

        assert resolve.asked == [("hooks.test", 80), ("hooks.test", 8443)]  # type: ignore[attr-defined]

    async def test_a_name_that_does_not_resolve_is_tried_again_later(self) -> None:
        async def unknown(host: str, port: int) -> list[str]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        transport = httpx.MockTransport(lambda _: httpx.Response(200))
        assert await sender(transport, resolve=unknown)(delivery()) == UNRESOLVED
        assert not UNRESOLVED.permanent

    async def test_the_operator_may_allow_private_receivers(self) -> None:
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        resolve = resolver("127.0.0.1")
        target = ("http://127.0.0.1:8099/in",)
        send = sender(httpx.MockTransport(answer), resolve=resolve, allow_private=True)
        attempt = await send(delivery(target=target))

        assert attempt == DELIVERED
        assert str(seen[0].url) == "http://127.0.0.1:8099/in"
        assert resolve.asked == []  # type: ignore[attr-defined]


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


class FakeSend:
    """`aiosmtplib.send`: records what it is asked, and raises `refusal` when one is set."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refusal: Exception | None = None

    async def __call__(self, message: object, **kwargs: Any) -> tuple[dict[str, object], str]:
        self.calls.append(kwargs)
        if self.refusal is not None:
            raise self.refusal
        return {}, "250 OK"


class TestSmtp:
    """The SMTP conversation itself is aiosmtplib's (and the integration tests'): here, what is asked of it and
    how its refusals count."""

    @pytest.fixture
    def send(self, monkeypatch: pytest.MonkeyPatch) -> FakeSend:
        fake = FakeSend()
        monkeypatch.setattr(aiosmtplib, "send", fake)
        return fake

    async def refused(self, send: FakeSend, error: Exception, **server: Any) -> Attempt:
        send.refusal = error
        return await SmtpSender(smtp_server(**server), PUBLIC)(delivery("email", ("a@example.com",)))

    @pytest.mark.parametrize(
        ("tls", "starttls"), [(True, False), (False, True), (False, False)], ids=["tls", "starttls", "plain"]
    )
    async def test_the_server_is_reached_over_the_tls_configured(
        self, send: FakeSend, tls: bool, starttls: bool
    ) -> None:
        attempt = await SmtpSender(smtp_server(tls=tls, starttls=starttls), PUBLIC)(delivery("email", ("a@x.test",)))

        assert attempt == DELIVERED
        assert [(c["use_tls"], c["start_tls"], c["port"]) for c in send.calls] == [(tls, starttls, 465)]

    def test_tls_and_starttls_exclude_each_other(self) -> None:
        with pytest.raises(ValueError, match="either TLS from the start or upgraded by STARTTLS"):
            smtp_server(tls=True, starttls=True)

    @pytest.mark.parametrize(
        "error",
        [
            aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials for bob"),
            aiosmtplib.SMTPSenderRefused(530, "5.7.0 authentication required", "connect@example.com"),
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(530, "auth first", "a@example.com")]),
        ],
        ids=["535-login", "530-mail-from", "530-rcpt"],
    )
    async def test_an_authentication_refusal_is_a_configuration_problem_tried_again(
        self, send: FakeSend, error: Exception, caplog: pytest.LogCaptureFixture
    ) -> None:
        attempt = await self.refused(send, error, user="bob", password="hunter2")

        code = getattr(error, "code", 530)
        assert attempt == Attempt(
            problem=f"the SMTP server refused our authentication (reply {code}); "
            "check CONNECT_SMTP_USER, CONNECT_SMTP_PASSWORD and the TLS settings"
        )
        assert not attempt.permanent
        [line] = [r for r in caplog.records if r.name == smtp.__name__]
        assert line.levelname == "ERROR" and "refused our authentication" in line.getMessage()
        assert "hunter2" not in caplog.text and "bob" not in caplog.text

    @pytest.mark.parametrize(
        ("error", "attempt"),
        [
            (
                aiosmtplib.SMTPDataError(554, "5.7.1 spam"),
                Attempt(problem="the SMTP server refused the message (reply 554)", permanent=True),
            ),
            (
                aiosmtplib.SMTPDataError(451, "4.3.0 try later"),
                Attempt(problem="the SMTP server refused the message (reply 451)"),
            ),
        ],
        ids=["5xx-permanent", "4xx-later"],
    )
    async def test_other_refusals_count_by_their_reply(
        self, send: FakeSend, error: Exception, attempt: Attempt
    ) -> None:
        assert await self.refused(send, error) == attempt


def smtp_server(**fields: Any) -> SmtpServer:
    return SmtpServer(**{"host": "smtp.test", "port": 465, "sender": "connect@example.com", **fields})
