"""The notification settings' rules: valid, distinct addresses (at most 20), an http(s) webhook URL with a host
(at most 2000 characters), and a channel whenever an outcome asks to be told."""

from __future__ import annotations

import pytest

from connect_events import FieldError, Notifications
from connect_scheduler.domain.validation import email_problem, job_errors, notification_errors, webhook_url_problem
from tests.unit.scheduler.scheduler_builders import T0, customers, definition

VALID_EMAILS = [
    "ops@example.com",
    "first.last+tag@mail.example.co.uk",
    "o'brien@example.ie",
    "x@a-b.example.org",
    f"{'l' * 64}@example.com",
]
INVALID_EMAILS = {
    "empty": "",
    "no at": "ops.example.com",
    "two ats": "a@b@example.com",
    "no domain": "ops@",
    "no local part": "@example.com",
    "no dot in the domain": "ops@localhost",
    "numeric TLD": "ops@example.123",
    "leading dot": ".ops@example.com",
    "double dot": "o..ps@example.com",
    "trailing dot": "ops.@example.com",
    "space": "o ps@example.com",
    "display name": "Ops <ops@example.com>",
    "line break": "ops@example.com\nBcc: all@example.com",
    "non-ASCII": "opé@example.com",
    "hyphen at label end": "ops@example-.com",
    "local part of 65": f"{'l' * 65}@example.com",
    "too long": f"ops@{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 63}.com",
}


@pytest.mark.parametrize("address", VALID_EMAILS)
def test_valid_addresses(address: str) -> None:
    assert email_problem(address) is None


@pytest.mark.parametrize("address", INVALID_EMAILS.values(), ids=INVALID_EMAILS.keys())
def test_invalid_addresses(address: str) -> None:
    assert email_problem(address) is not None


def test_each_bad_address_is_named_by_its_position() -> None:
    settings = Notifications(on_failure=True, emails=("ok@example.com", "bad", "also bad@x"))
    assert [e.field for e in notification_errors(settings)] == ["notifications.emails[1]", "notifications.emails[2]"]


def test_an_address_listed_twice_in_any_case() -> None:
    [error] = notification_errors(Notifications(on_failure=True, emails=("Ops@example.com", "ops@EXAMPLE.com")))
    assert (error.field, error.message) == ("notifications.emails[1]", "this address is listed twice")


def test_twenty_addresses_are_fine_twenty_one_are_not() -> None:
    twenty = tuple(f"user{i}@example.com" for i in range(20))
    assert notification_errors(Notifications(on_failure=True, emails=twenty)) == []
    [error] = notification_errors(Notifications(on_failure=True, emails=(*twenty, "one.more@example.com")))
    assert (error.field, error.message) == ("notifications.emails", "at most 20 addresses")


VALID_URLS = [
    "https://hooks.example.com/connect",
    "http://93.184.215.14:8099/hook?token=abc",
    "https://[2606:4700:4700::1111]/x",
    "HTTPS://Example.COM",
    "https://localhost.example.com/x",
]
INVALID_URLS = {
    "empty": "",
    "no scheme": "hooks.example.com/connect",
    "ftp": "ftp://example.com/x",
    "javascript": "javascript:alert(1)",
    "no host": "https:///path",
    "bad port": "https://example.com:99999/",
    "bad host": "https://exa_mple.com/",
    "space": "https://example.com/a b",
    "line break": "https://example.com/\r\nX: y",
    "too long": "https://example.com/" + "a" * 1981,
    "user and password": "https://user:secret@hooks.example.com/x",
    "user only": "https://user@hooks.example.com/x",
}
PRIVATE_URLS = {
    "loopback": "http://127.0.0.1:8099/hook",
    "loopback elsewhere in 127/8": "http://127.10.0.1/",
    "metadata service": "http://169.254.169.254/latest/meta-data/",
    "link-local": "http://169.254.1.1/",
    "RFC 1918 10/8": "http://10.0.0.5/",
    "RFC 1918 172.16/12": "http://172.31.255.1/",
    "RFC 1918 192.168/16": "https://192.168.1.10/x",
    "shared address space": "http://100.64.0.1/",
    "unspecified": "http://0.0.0.0/",
    "multicast": "http://224.0.0.1/",
    "IPv6 loopback": "http://[::1]/",
    "IPv6 unspecified": "http://[::]/",
    "IPv6 link-local": "http://[fe80::1]/",
    "IPv6 unique-local": "http://[fd12:3456::1]/",
    "IPv6 multicast": "http://[ff02::1]/",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]/",
    "documentation range": "https://[2001:db8::1]/x",
    "localhost": "http://localhost:8080/",
    "localhost, any case, trailing dot": "http://LocalHost./",
    "a name under localhost": "http://api.localhost/",
    "trailing-dot address": "http://127.0.0.1./",
}


@pytest.mark.parametrize("url", VALID_URLS)
def test_valid_webhook_urls(url: str) -> None:
    assert webhook_url_problem(url) is None


@pytest.mark.parametrize("url", INVALID_URLS.values(), ids=INVALID_URLS.keys())
def test_invalid_webhook_urls(url: str) -> None:
    assert webhook_url_problem(url) is not None


@pytest.mark.parametrize("url", PRIVATE_URLS.values(), ids=PRIVATE_URLS.keys())
def test_private_and_local_hosts_are_refused(url: str) -> None:
    assert webhook_url_problem(url) is not None


@pytest.mark.parametrize("url", PRIVATE_URLS.values(), ids=PRIVATE_URLS.keys())
def test_the_operator_may_allow_private_and_local_hosts(url: str) -> None:
    assert webhook_url_problem(url, allow_private=True) is None


def test_credentials_are_refused_even_when_private_hosts_are_allowed() -> None:
    assert webhook_url_problem("http://u:p@127.0.0.1/", allow_private=True) == (
        "must not hold a user name or password (user:password@)"
    )


def test_a_private_host_names_the_webhook_field() -> None:
    settings = Notifications(on_failure=True, webhook_url="http://169.254.169.254/")
    [error] = notification_errors(settings)
    assert error == FieldError(
        field="notifications.webhook_url", message="must not be a private, loopback, link-local or multicast address"
    )
    assert notification_errors(settings, allow_private_webhooks=True) == []


def test_a_private_webhook_makes_a_job_a_draft_unless_allowed() -> None:
    notify = Notifications(on_failure=True, webhook_url="http://localhost/hook")
    job = definition().model_copy(update={"notifications": notify})
    assert [e.field for e in job_errors(job, customers(), T0)] == ["notifications.webhook_url"]
    assert job_errors(job, customers(), T0, allow_private_webhooks=True) == []


def test_a_url_of_2000_characters_is_fine() -> None:
    url = "https://example.com/" + "a" * 1980
    assert len(url) == 2000
    assert webhook_url_problem(url) is None


def test_a_bad_url_names_its_field() -> None:
    [error] = notification_errors(Notifications(on_success=True, webhook_url="ftp://example.com"))
    assert (error.field, error.message) == ("notifications.webhook_url", "must be an http or https URL with a host")


@pytest.mark.parametrize(
    "settings",
    [Notifications(on_success=True), Notifications(on_failure=True), Notifications(on_success=True, on_failure=True)],
)
def test_asking_to_be_told_without_a_channel_names_notifications(settings: Notifications) -> None:
    [error] = notification_errors(settings)
    assert (error.field, error.message) == ("notifications", "give email addresses or a webhook URL to notify")


def test_channels_without_an_outcome_asked_for_are_no_error() -> None:
    assert notification_errors(Notifications(emails=("ops@example.com",), webhook_url="https://example.com")) == []


def test_the_job_rules_include_the_notification_rules() -> None:
    job = definition().model_copy(update={"notifications": Notifications(on_failure=True, emails=("bad",))})
    assert [e.field for e in job_errors(job, customers(), T0)] == ["notifications.emails[0]"]
