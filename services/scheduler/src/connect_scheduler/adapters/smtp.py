"""Email notifications over SMTP (aiosmtplib): one plain-text message to all of a delivery's addresses.

An SMTP reply code says whether trying again can help: 5xx refuses the message for good, 4xx and a lost or
slow connection may pass later. An authentication reply (530, 535) is our configuration's problem, not the
message's: it is tried again, and logged for the operator. Problems are told in our words with the reply code,
never the server's text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.domain.notifications import DELIVERED, Attempt, email_subject, email_text

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30.0  # for each step of the conversation (connect, each command)
NO_SERVER = Attempt(problem="no SMTP server is configured (CONNECT_SMTP_HOST)", permanent=True)
# Authentication required (530) or refused (535): fixed by the operator, so not the end of the delivery.
AUTHENTICATION_REPLIES = frozenset({530, 535})
CHECK_CREDENTIALS = "check CONNECT_SMTP_USER, CONNECT_SMTP_PASSWORD and the TLS settings"


@dataclass(frozen=True)
class SmtpServer:
    """Where and as whom email is sent; `starttls` requires the upgrade (a server without it is refused), `tls`
    speaks TLS from the first byte instead (the two exclude each other)."""

    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    tls: bool = False
    timeout_s: float = SMTP_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.starttls and self.tls:
            raise ValueError("an SMTP connection is either TLS from the start or upgraded by STARTTLS, not both")


class SmtpSender:
    """Sends a delivery's notice as one email to all of its addresses."""

    def __init__(self, server: SmtpServer, public_url: str) -> None:
        self._server = server
        self._public_url = public_url

    async def __call__(self, delivery: Delivery) -> Attempt:
        server = self._server
        try:
            refused, _ = await aiosmtplib.send(
                email_message(delivery, server.sender, self._public_url),
                hostname=server.host,
                port=server.port,
                username=server.user,
                password=server.password,
                start_tls=server.starttls,
                use_tls=server.tls,
                timeout=server.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _reply_attempt(delivery, "refused every recipient", [r.code for r in exc.recipients])
        except aiosmtplib.SMTPResponseException as exc:
            return _reply_attempt(delivery, "refused the message", [exc.code])
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Timeouts are both; a server without STARTTLS while it is required is SMTPException alone.
            return Attempt(problem=f"could not talk to the SMTP server ({_kind(exc)})")
        if refused:
            log.warning(
                "email notification sent, but some recipients were refused",
                extra={"delivery_id": str(delivery.delivery_id), "refused": len(refused)},
            )
        return DELIVERED


async def no_smtp_server(delivery: Delivery) -> Attempt:
    """The email sender when no SMTP server is configured: every email delivery fails at once."""
    return NO_SERVER


def email_message(delivery: Delivery, sender: str, public_url: str) -> EmailMessage:
    """The email of `delivery`: to all of its addresses, subject and text from its notice."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(delivery.target)
    message["Subject"] = email_subject(delivery.notice)
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain, not the local host name: make_msgid would otherwise resolve it on every message.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Connect-Delivery"] = str(delivery.delivery_id)
    message.set_content(email_text(delivery.notice, public_url))
    return message


def _reply_attempt(delivery: Delivery, what: str, codes: list[int]) -> Attempt:
    """Refused for good only when every reply was permanent (5xx) and none asked for authentication."""
    shown = ", ".join(str(code) for code in sorted(set(codes)))
    if AUTHENTICATION_REPLIES.intersection(codes):
        log.error(
            f"email notification not sent: the SMTP server refused our authentication; {CHECK_CREDENTIALS}",
            extra={"delivery_id": str(delivery.delivery_id), "reply": shown},
        )
        return Attempt(problem=f"the SMTP server refused our authentication (reply {shown}); {CHECK_CREDENTIALS}")
    permanent = bool(codes) and all(500 <= code < 600 for code in codes)
    return Attempt(problem=f"the SMTP server {what} (reply {shown})", permanent=permanent)


def _kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return "a required feature such as STARTTLS is not offered"
    return "connection failed"
