"""The notification settings' rules: valid, distinct addresses (at most 20), an http(s) webhook URL with a host
(at most 2000 characters), and a channel whenever an outcome asks to be told."""

from __future__ import annotations

import pytest

from connect_events import Notifications
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
    "http://127.0.0.1:8099/hook?token=abc",
    "https://[2001:db8::1]/x",
    "HTTPS://Example.COM",
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
}


@pytest.mark.parametrize("url", VALID_URLS)
def test_valid_webhook_urls(url: str) -> None:
    assert webhook_url_problem(url) is None


@pytest.mark.parametrize("url", INVALID_URLS.values(), ids=INVALID_URLS.keys())
def test_invalid_webhook_urls(url: str) -> None:
    assert webhook_url_problem(url) is not None


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
